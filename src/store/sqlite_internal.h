/*
 * sqlite_internal.h — shared between the files of the SQLite backend:
 * the per-thread connection with its prepared statements, and the write
 * transaction helpers. Not for use outside src/store/sqlite*.c.
 */
#ifndef POS_STORE_SQLITE_INTERNAL_H
#define POS_STORE_SQLITE_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <sqlite3.h>

#include "crypto/keyfile.h"

#include "base/buf.h"
#include "store/store.h"

/* Statements prepared once per connection, by id. */
enum sq_stmt {
	ST_TOKEN_INSERT,
	ST_TOKEN_LIST,
	ST_TOKEN_REVOKE,
	ST_TOKEN_LOOKUP,
	ST_TOKEN_TOUCH,
	ST_STATE_GET,
	ST_STATE_PUT,
	ST_USER_BY_EMAIL,
	ST_USER_BY_ID,
	ST_USER_UPDATE,
	ST_USER_LOGIN,
	ST_USER_LIST,
	ST_USER_COUNT_ADD,
	ST_SESSION_INSERT,
	ST_SESSION_GET,
	ST_SESSION_REVOKE,
	ST_REFRESH_INSERT,
	ST_REFRESH_GET,
	ST_REFRESH_USE,
	ST_MEM_OWNED,
	ST_MEM_INSERT,
	ST_MEM_GET,
	ST_MEM_TAG_INSERT,
	ST_MEM_TAG_CLEAR,
	ST_REL_INSERT,
	ST_REL_CLEAR_FROM,
	ST_REL_CLEAR_TO,
	ST_MEM_ORPHAN_CHILDREN,
	ST_MEM_DELETE,
	ST_MEM_COUNT_ALL,
	ST_MEM_ACCESS_ADD,
	ST_VEC_PUT,
	ST_VEC_DELETE,
	ST_VEC_GET,
	ST_THREAD_TAIL,
	ST_FTS_TOP,
	ST_VOCAB_DF,
	ST_VOCAB_RANGE,
	ST_MEM_SEQ_EXISTS,
	ST_MAX_SEQ,
	ST_CHAT_SEQS,
	ST_ATT_MEMORY_SEQ,
	ST_BLOB_INSERT,
	ST_ATT_INSERT,
	ST_ATT_GET,
	ST_ATT_LIST,
	ST_ATT_DELETE,
	ST_ATT_SET_TEXT,
	ST_ATT_SET_THUMB,
	ST_ATT_UNTHUMBED,
	ST_ATT_PLAIN,
	ST_ATT_RESEAL,
	ST_BLOB_ORPHANS,
	ST_BLOB_FORGET,
	ST_PLUGIN_PUT,
	ST_PLUGIN_GET,
	ST_PLUGIN_LIST,
	ST_PLUGIN_FAILED,
	ST_PLUGIN_SUCCEEDED,
	ST_PLUGIN_KV_GET,
	ST_PLUGIN_KV_DELETE,
	ST_PLUGIN_KV_USAGE,
	ST_PLUGIN_KV_PUT,
	ST_PLUGIN_LOG_ADD,
	ST_PLUGIN_LOG_TRIM,
	ST_PLUGIN_LOG_LIST,
	ST_PLUGIN_DELETE,
	ST_PLUGIN_KV_DELETE_ALL,
	ST_PLUGIN_LOG_DELETE_ALL,
	ST_KW_LOG_MAX,
	ST_KW_LOG_MIN,
	ST_KW_LOG_READ,
	ST_KW_ROW,
	ST_HYDRATE,
	ST_RANK_FIELDS,
	ST_REL_FROM,
	ST_BULK_FTS,
	ST_BULK_BYTES,
	ST_BULK_KW,
	ST_MEM_TAGS_READ,
	ST_MEM_TAGS_SET,
	ST_AL_PARENT_THREAD,
	ST_AL_PARENT_SERIES,
	ST_AL_OWNER,
	ST_AL_CLEAR,
	ST_AL_INSERT,
	ST_AL_SET_PARENT,
	ST_AL_KEY,
	ST__COUNT
};

/* The SQL of each statement (sqlite_stmt.c). */
extern const char *const sq_stmt_sql[ST__COUNT];

/*
 * The columns of a memory as read (alias `m`), ending with its related ids
 * as a JSON array, so one statement — one read transaction — fetches all.
 */
#define SQ_MEM_COLS                                                             \
	"m.id, m.user_id, m.content, m.type, m.layer, m.source, m.created_at,"  \
	" m.updated_at, m.last_accessed_at, m.parent_memory_id, m.tags,"        \
	" m.importance_score, m.access_count, m.is_encrypted, m.shared_with,"   \
	" m.metadata, m.attachments, m.external_id,"                            \
	" (SELECT json_group_array(rid) FROM ("                                 \
	" SELECT related_memory_id AS rid FROM memory_relationships"            \
	" WHERE memory_id = m.id AND relationship_type = 'related'"             \
	" UNION SELECT memory_id FROM memory_relationships"                     \
	" WHERE related_memory_id = m.id AND relationship_type = 'related')),"   \
	" m.seq, m.thread, m.context, m.sealed, m.layer_locked, m.importance_set," \
	" " SQ_PINNED("m")

/* Whether metadata.pinned is true, for a table alias (a string literal). */
#define SQ_PINNED(t)                                                            \
	"(CASE WHEN json_valid(" t ".metadata) THEN"                            \
	" coalesce(json_extract(" t ".metadata, '$.pinned'), 0) = 1 ELSE 0 END)"
/* A memory (of table `memories`, unaliased) that an access or an edit
 * brings back to active (docs/LIFECYCLE.md). */
#define SQ_REVIVABLE                                                            \
	"(layer IN ('reference', 'archive') AND layer_locked = 0 AND NOT "       \
	SQ_PINNED("memories") ")"
/* Number of columns of SQ_MEM_COLS. */
#define SQ_MEM_NCOLS 26

#define SQ_FILTER_BITS 9 /* type, layer, source, tag, after, before, require, exclude, hide chat */

struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	sqlite3_stmt *list_page[1 << SQ_FILTER_BITS][POS_SORT__COUNT];
	sqlite3_stmt *list_count[1 << SQ_FILTER_BITS];
	sqlite3_stmt *keyword[1 << SQ_FILTER_BITS];
	sqlite3_stmt *filter[1 << SQ_FILTER_BITS];
	/* FTS5's own tokenizer, to stem query words like the index does */
	void *fts_tok;                /* Fts5Tokenizer * */
	const void *fts_tok_api;      /* fts5_tokenizer * (its methods) */
	struct sq_conn *prev, *next;
	struct sq_store *owner;
	bool batch; /* in batch_begin's transaction: writes are savepoints in it */
	/* memory_insert's set-wise triggers (sqlite_memories.c): 0 not
	 * checked yet, 1 the schema's insert triggers are the known ones, -1 not */
	int bulk_triggers;
};

/* Write-behind access counts (sqlite_access.c). */
struct access_entry;
struct pos_ticker;

struct sq_access {
	pthread_rwlock_t flush_lock; /* readers shared, flusher exclusive */
	pthread_mutex_t table_lock;
	struct access_entry *slots;
	size_t cap, used;
	struct pos_ticker *ticker;   /* the write-behind flusher (base/thread.h) */
	bool inited;
};

/* The WAL checkpointer (sqlite_ckpt.c). */
struct sq_ckpt {
	struct pos_ticker *_Atomic ticker; /* NULL: writers checkpoint themselves */
	_Atomic bool stopping;
	_Atomic bool wanted;                /* a commit passed the soft limit */
	_Atomic long passive, truncate;     /* checkpoints run, for tests */
};

struct sq_store {
	struct pos_store base;
	struct sq_access access;
	struct sq_ckpt ckpt;
	char path[PATH_MAX];
	pthread_key_t key;
	pthread_mutex_t write_lock;   /* one writer at a time, in-process */
	pthread_mutex_t conns_lock;   /* guards the conns list */
	struct sq_conn *conns;
	struct pos_keyfile *keys;     /* DATA/keys: the server keys (owned) */
	struct sq_kw *kw;             /* in-memory keyword indexes (sqlite_kw.c) */
};

/* The calling thread's connection, opened on first use; NULL on failure. */
struct sq_conn *sq_conn(struct sq_store *s);
/* Prepared statement `id` of `c`, reset and unbound; NULL on failure. */
sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt id);
/* Logs a SQLite failure (no user data) and returns POS_ERR_STORE. */
enum pos_err sq_fail(struct sq_conn *c, const char *what);

/* Takes the write lock and begins an IMMEDIATE transaction. */
enum pos_err sq_begin(struct sq_store *s, struct sq_conn *c);
/* Commits when rc is POS_OK or `commit_anyway`, else rolls back; unlocks.
 * Returns rc, or POS_ERR_STORE if the commit fails. */
enum pos_err sq_end(struct sq_store *s, struct sq_conn *c, enum pos_err rc,
		    bool commit_anyway);

/* Copies column i as text into the arena (NULL for SQL NULL). */
const char *sq_col_str(struct pos_arena *a, sqlite3_stmt *st, int i,
		       size_t *len);
/* Column i as a time: POS_TIME_NONE for SQL NULL. */
int64_t sq_col_time(sqlite3_stmt *st, int i);
/* Binds text (NULL binds SQL NULL). Static lifetime: caller keeps it. */
int sq_bind_str(sqlite3_stmt *st, int i, const char *s);
int sq_bind_time(sqlite3_stmt *st, int i, int64_t t);

/* The WAL checkpointer (sqlite_ckpt.c): sq_ckpt_attach installs the WAL
 * hook on a new connection; start/stop run the checkpointing ticker (stop
 * before the connections close, with no writes in progress). */
void sq_ckpt_attach(struct sq_store *s, sqlite3 *db);
enum pos_err sq_ckpt_start(struct sq_store *s);
void sq_ckpt_stop(struct sq_store *s);

/* Access counting (sqlite_access.c). */
enum pos_err sq_access_start(struct sq_store *s);
/* Flushes what is pending and stops the flusher. */
void sq_access_stop(struct sq_store *s);
/* Brackets a read whose rows get pending counts overlaid. */
void sq_access_read_begin(struct sq_store *s);
void sq_access_read_end(struct sq_store *s);
/* Counts one access; returns the pending count and last time for `id`. */
enum pos_err sq_access_touch(struct sq_store *s, const char *id, int64_t now,
			     int64_t *pending, int64_t *last_at);
/* Adds pending counts to a row just read (between read_begin/end). */
void sq_access_overlay(struct sq_store *s, struct pos_memory *m);
/* Writes pending counts now. Must not be called inside read_begin/end. */
void sq_access_flush(struct sq_store *s);

/* Memory operations (sqlite_memories.c). */
enum pos_err sq_memory_insert(struct pos_store *s, struct pos_memory *m,
			      size_t n, struct pos_error *err);
/* Writes m->vec for row `seq` (inside the caller's write transaction). */
enum pos_err sq_vec_put(struct sq_conn *c, int64_t seq, const char *user_id,
			const struct pos_vec *v);
enum pos_err sq_memory_get(struct pos_store *s, struct pos_arena *a,
			   const char *user_id, const char *id, bool touch,
			   int64_t now, struct pos_memory *out);
enum pos_err sq_memory_list(struct pos_store *s, struct pos_arena *a,
			    const struct pos_memory_query *q,
			    struct pos_memory **out, size_t *n, int64_t *total);
enum pos_err sq_memory_update(struct pos_store *s, const char *user_id,
			      const char *id, const struct pos_memory_patch *p,
			      int64_t now, struct pos_error *err);
enum pos_err sq_memory_delete(struct pos_store *s, const char *user_id,
			      const char *id, int64_t *seq);
enum pos_err sq_memory_tag_add(struct pos_store *s, const char *user_id, const char *id,
			       const char *const *add, size_t n, size_t max, int64_t now,
			       size_t *added);
enum pos_err sq_memory_count_all(struct pos_store *s, int64_t *n);
enum pos_err sq_max_seq(struct pos_store *s, int64_t *seq);

/* Search reads (sqlite_search.c). */
enum pos_err sq_keyword_search(struct pos_store *s, struct pos_arena *a,
			       const struct pos_memory_query *q, const char *match,
			       struct pos_hit **out, size_t *n);
enum pos_err sq_term_frequency(struct pos_store *s, const char *word,
				int64_t *df, int64_t *docs);
enum pos_err sq_stem_near(struct pos_store *s, const char *stem, size_t len, bool *near);
enum pos_err sq_stem_frequency(struct pos_store *s, const char *stem, size_t len,
				int64_t *df);
/* The connection's tokenizer (that of memories_fts), made on first use;
 * released by sq_tokenizer_free (sqlite_search.c). */
enum pos_err sq_tokenizer(struct sq_conn *c);
void sq_tokenizer_free(struct sq_conn *c);

/* The in-memory keyword indexes beside FTS5 (sqlite_kw.c,
 * docs/SEARCH.md "Keyword top-k"). */
enum pos_err sq_kw_new(struct sq_store *s);
void sq_kw_free(struct sq_store *s);
/*
 * The user's best `limit` memories for `match` from the user's in-memory
 * index, best first (score = -bm25 over the user's own memories). *used is
 * false — and nothing is read — when the index cannot answer this match
 * exactly (anything but an OR of single words: phrases, NOT, prefixes;
 * or the index is switched off): then FTS5 answers.
 */
enum pos_err sq_kw_top(struct sq_store *s, struct sq_conn *c, struct pos_arena *a,
		       const char *user_id, const char *match, unsigned limit,
		       struct pos_hit **out, size_t *n, bool *used);
/* Document frequency of one stemmed term in the whole FTS5 index (0 when
 * absent), cached while fewer memories changed since than 1/16 of it. */
enum pos_err sq_kw_df(struct sq_store *s, struct sq_conn *c, const char *term, size_t n,
		      int64_t *df);
enum pos_err sq_filter_seqs(struct pos_store *s, struct pos_arena *a,
			    const struct pos_memory_query *q, size_t max,
			    int64_t **out, size_t *n);
enum pos_err sq_memories_by_seq(struct pos_store *s, struct pos_arena *a,
				const char *user_id, const int64_t *seqs, size_t n,
				struct pos_memory *out, bool *found);
enum pos_err sq_memories_rank_fields(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, const int64_t *seqs, size_t n,
				     struct pos_memory *out, bool *found);
enum pos_err sq_thread_tail(struct pos_store *s, struct pos_arena *a,
			    const char *user_id, const char *thread, size_t max,
			    const char **out, size_t *n);
enum pos_err sq_vector_get(struct pos_store *s, struct pos_arena *a,
			   const char *user_id, int64_t seq, struct pos_vec *out);
enum pos_err sq_vectors_load(struct pos_store *s, const char *user_id,
			     const char *model,
			     void (*fn)(void *ctx, int64_t seq, float scale,
					const int8_t *q, unsigned dim),
			     void *ctx);
enum pos_err sq_vectors_missing(struct pos_store *s, struct pos_arena *a,
				const char *model, const char *user_id, int64_t after_seq,
				size_t max, struct pos_memory **out, size_t *n);
enum pos_err sq_vectors_missing_count(struct pos_store *s, const char *model,
				      const char *user_id, int64_t *n);
enum pos_err sq_vectors_put(struct pos_store *s, const struct pos_memory *m,
			    size_t n);
/* Reads one memory row of SQ_MEM_COLS (sqlite_memories.c). */
enum pos_err sq_read_memory(struct pos_arena *a, sqlite3_stmt *st,
			    struct pos_memory *m);
/* The filter mask of a query, and binding of its parameters (?1..?7,
 * ?11, ?12) (sqlite_memories.c). */
unsigned sq_filter_mask(const struct pos_memory_query *q);
/*
 * The connection's cached statement in *slot, or prepared once from
 * head + the filter conditions of `mask` + tail; reset and unbound.
 * NULL on failure (logged).
 */
sqlite3_stmt *sq_cached_stmt(struct sq_conn *c, sqlite3_stmt **slot,
			     const char *head, unsigned mask, const char *tail);
/* Only the " AND m.x = ?n" conditions of a filter mask. */
enum pos_err sq_build_conds(struct pos_buf *b, unsigned mask);
void sq_bind_filters(sqlite3_stmt *st, const struct pos_memory_query *q,
		     unsigned mask);

/* Conversations and messages (sqlite_chat.c); see store.h. */
enum pos_err sq_conversation_get(struct pos_store *s, struct pos_arena *a,
				 const char *user_id, const char *id,
				 struct pos_conversation *out);
enum pos_err sq_conversation_list(struct pos_store *s, struct pos_arena *a,
				  const char *user_id, unsigned limit, unsigned offset,
				  struct pos_conversation **out, size_t *n, int64_t *total);
enum pos_err sq_chat_append(struct pos_store *s, const struct pos_conversation *conv,
			    bool create, const struct pos_chat_message *msgs, size_t n);
enum pos_err sq_messages_list(struct pos_store *s, struct pos_arena *a,
			      const char *user_id, const char *conversation_id,
			      unsigned limit, struct pos_chat_message **out, size_t *n);
/* The jobs table (sqlite_jobs.c); see store.h. */
enum pos_err sq_job_put(struct pos_store *s, const struct pos_job *j);
enum pos_err sq_job_claim(struct pos_store *s, struct pos_arena *a, int64_t now,
			  int64_t lease_until, const char *kinds_json, const char *serial_json, struct pos_job *out);
enum pos_err sq_job_update(struct pos_store *s, const struct pos_job *j);
enum pos_err sq_job_progress(struct pos_store *s, const char *id, uint64_t done,
			     uint64_t total, int64_t now);
enum pos_err sq_job_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			const char *id, struct pos_job *out);
enum pos_err sq_job_list(struct pos_store *s, struct pos_arena *a, const char *user_id,
			 const char *kind, size_t limit, struct pos_job **out, size_t *n);
enum pos_err sq_job_cancel(struct pos_store *s, const char *user_id, const char *id,
			   int64_t now);
enum pos_err sq_jobs_renew(struct pos_store *s, const char *ids_json, int64_t lease_until);
enum pos_err sq_jobs_requeue(struct pos_store *s, const char *kinds_json, int64_t now,
			     int64_t *n);
enum pos_err sq_jobs_queued(struct pos_store *s, const char *user_id, const char *kinds_json,
			    size_t *n);
enum pos_err sq_jobs_prune(struct pos_store *s, int64_t before);
enum pos_err sq_user_delete(struct pos_store *s, const char *user_id,
			    const char *keep_job_kind);
/* Encryption at rest: raw access to key material and sealed rows
 * (sqlite_crypt.c; contracts in store.h). */
enum pos_err sq_crypt_get(struct pos_store *s, struct pos_arena *a,
			  const char *user_id, struct pos_user_crypt *out);
enum pos_err sq_crypt_put(struct pos_store *s, const char *user_id,
			  const struct pos_user_crypt *in, const char *password_hash,
			  const char *expect);
enum pos_err sq_refresh_wrap_get(struct pos_store *s, struct pos_arena *a,
				 const uint8_t *hash, const uint8_t **wrap, size_t *len);
enum pos_err sq_refresh_wrap_put(struct pos_store *s, const uint8_t *hash,
				 const uint8_t *wrap, size_t len);
enum pos_err sq_refresh_wraps_sweep(struct pos_store *s, int64_t now, int64_t *n);
enum pos_err sq_crypt_progress(struct pos_store *s, const char *user_id,
			       int64_t *sealed, int64_t *total);
enum pos_err sq_crypt_plain_batch(struct pos_store *s, struct pos_arena *a,
				  const char *user_id, int64_t after_seq, size_t max,
				  struct pos_memory **out, size_t *n);
enum pos_err sq_crypt_seal_rows(struct pos_store *s, const struct pos_memory *m,
				size_t n);
enum pos_err sq_crypt_vectors_load(struct pos_store *s, const char *user_id,
				   const char *model,
				   void (*fn)(void *ctx, int64_t seq, const char *id,
					      unsigned dim, float scale,
					      const uint8_t *blob, size_t len),
				   void *ctx);
enum pos_err sq_crypt_vector_raw(struct pos_store *s, struct pos_arena *a,
				 const char *user_id, int64_t seq, char id[POS_UUID_SIZE],
				 struct pos_vec *out);
/* Index terms of a text with the FTS5 tokenizer (sqlite_search.c). */
enum pos_err sq_index_terms(struct pos_store *s, const char *text, size_t len,
			    void (*fn)(void *ctx, const char *term, size_t n), void *ctx);
enum pos_err sq_crypt_thread_tail(struct pos_store *s, struct pos_arena *a,
				  const char *user_id, const char *thread, size_t max,
				  struct pos_memory **out, size_t *n);
enum pos_err sq_compact(struct pos_store *s);
/* Tag index rows of one memory (sqlite_memories.c). */
enum pos_err sq_insert_tags(struct sq_conn *c, const char *user_id, int64_t seq,
			    const char *const *tags, size_t n);

/* Stats and graph (sqlite_graph.c). */
enum pos_err sq_tag_counts(struct pos_store *base, struct pos_arena *a, const char *user_id,
			   unsigned limit, bool hide_chat, const char **json);
enum pos_err sq_memory_stats(struct pos_store *s, struct pos_arena *a,
			     const char *user_id, unsigned days, unsigned tags,
			     bool hide_chat, struct pos_memory_stats *out);
enum pos_err sq_graph_nodes(struct pos_store *s, struct pos_arena *a,
			    const char *user_id, const char *ids_json,
			    unsigned limit, struct pos_graph_node **out, size_t *n);
enum pos_err sq_graph_edges(struct pos_store *s, struct pos_arena *a,
			    const char *user_id, const char *ids_json,
			    unsigned limit, struct pos_graph_edge **out, size_t *n);
enum pos_err sq_relationships_from(struct pos_store *s, struct pos_arena *a,
			    const char *user_id, const char *seqs_json,
			    unsigned limit, struct pos_graph_edge **out, size_t *n);

/* Sync sources, logs and per-source memory lookups (sqlite_sync.c). */
enum pos_err sq_sync_source_put(struct pos_store *s, const struct pos_sync_source *src,
				bool create);
enum pos_err sq_sync_source_get(struct pos_store *s, struct pos_arena *a,
				const char *user_id, const char *id,
				struct pos_sync_source *out);
enum pos_err sq_sync_source_list(struct pos_store *s, struct pos_arena *a,
				 const char *user_id, struct pos_sync_source **out,
				 size_t *n);
enum pos_err sq_sync_source_delete(struct pos_store *s, const char *user_id,
				   const char *id);
enum pos_err sq_sync_log_add(struct pos_store *s, const struct pos_sync_log *l);
enum pos_err sq_sync_log_list(struct pos_store *s, struct pos_arena *a,
			      const char *user_id, const char *source_id,
			      unsigned limit, struct pos_sync_log **out, size_t *n);
enum pos_err sq_sync_refs_lookup(struct pos_store *s, struct pos_arena *a,
				 const char *user_id, const char *source_id,
				 const char *const *ext, size_t n,
				 struct pos_sync_ref *out);
enum pos_err sq_sync_refs_list(struct pos_store *s, struct pos_arena *a,
			       const char *user_id, const char *source_id,
			       struct pos_sync_ref **out, size_t *n);
/* Sharing (sqlite_shares.c, guard). */
enum pos_err sq_share_add(struct pos_store *s, const char *owner_id, const char *id,
			  const char *const *emails, size_t n, int64_t now,
			  struct pos_error *err);
enum pos_err sq_share_remove(struct pos_store *s, const char *owner_id,
			     const char *id, const char *email);
enum pos_err sq_shared_get(struct pos_store *s, struct pos_arena *a,
			   const char *recipient_id, const char *id,
			   struct pos_memory *out);
enum pos_err sq_shared_list(struct pos_store *s, struct pos_arena *a,
			    const char *recipient_id, unsigned limit, unsigned offset,
			    struct pos_memory **out, size_t *n, int64_t *total);
enum pos_err sq_shared_search(struct pos_store *s, struct pos_arena *a,
			      const char *recipient_id, const char *match,
			      unsigned limit, struct pos_memory **out,
			      double **scores, size_t *n);

/* Accounts (sqlite_accounts.c). */
enum pos_err sq_user_register(struct pos_store *s, struct pos_user *u,
			      const uint8_t *invite_hash, bool by_operator, int64_t now);
enum pos_err sq_user_counts(struct pos_store *s, int64_t *users, int64_t *admins);
enum pos_err sq_user_admin_update(struct pos_store *s, const char *user_id,
				  const struct pos_user_admin_patch *p, int64_t now);
enum pos_err sq_user_usage(struct pos_store *s, const char *user_id,
			   struct pos_usage *out);
enum pos_err sq_user_revoke_all(struct pos_store *s, const char *user_id,
				const char *except_session, bool api_tokens, int64_t now,
				int64_t *n_sessions, int64_t *n_tokens);
enum pos_err sq_invite_create(struct pos_store *s, const struct pos_invite *inv,
			      const uint8_t *hash);
enum pos_err sq_invite_list(struct pos_store *s, struct pos_arena *a,
			    struct pos_invite **out, size_t *n);
enum pos_err sq_invite_delete(struct pos_store *s, const char *id);
enum pos_err sq_invite_valid(struct pos_store *s, const uint8_t *hash,
			     const char *email, int64_t now);

/* Plugins (sqlite_plugins.c). */
enum pos_err sq_plugin_put(struct pos_store *s, const struct pos_plugin_row *p);
enum pos_err sq_plugin_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			   const char *plugin_id, struct pos_plugin_row *out);
enum pos_err sq_plugin_list(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    struct pos_plugin_row **out, size_t *n);
enum pos_err sq_plugin_delete(struct pos_store *s, const char *user_id, const char *plugin_id);
enum pos_err sq_plugin_outcome(struct pos_store *s, const char *user_id, const char *plugin_id,
			       const char *error, unsigned max_failures, int64_t now,
			       bool *disabled);
enum pos_err sq_plugin_kv_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			      const char *plugin_id, const char *key, const char **value,
			      size_t *len);
enum pos_err sq_plugin_kv_put(struct pos_store *s, const char *user_id, const char *plugin_id,
			      const char *key, const char *value, size_t len, size_t quota);
enum pos_err sq_plugin_log_add(struct pos_store *s, const char *user_id, const char *plugin_id,
			       const char *level, const char *msg, size_t len, int64_t now,
			       unsigned keep);
enum pos_err sq_plugin_data_rewrite(struct pos_store *s, const char *user_id,
				    bool (*fn)(void *ctx, struct pos_arena *a, char kind,
					       const char *plugin_id, const char *key,
					       const char *text, size_t len, const char **out,
					       size_t *out_len),
				    void *ctx, size_t *replaced);
enum pos_err sq_plugin_log_list(struct pos_store *s, struct pos_arena *a, const char *user_id,
				const char *plugin_id, unsigned limit,
				struct pos_plugin_log **out, size_t *n);

/* Files: attachments and blob rows (sqlite_files.c; issue 21). */
enum pos_err sq_attachment_insert(struct pos_store *s, const struct pos_attachment *at);
enum pos_err sq_attachment_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			       const char *id, struct pos_attachment *out);
enum pos_err sq_attachment_list(struct pos_store *s, struct pos_arena *a, const char *user_id,
				const char *memory_id, struct pos_attachment **out, size_t *n);
enum pos_err sq_attachment_delete(struct pos_store *s, const char *user_id, const char *id);
enum pos_err sq_attachment_set_text(struct pos_store *s, const char *user_id, const char *id,
				    const char *status, const char *error, int64_t pages);
enum pos_err sq_blob_orphans(struct pos_store *s, struct pos_arena *a, const char *user_id,
			     size_t max, struct pos_blob_ref **out, size_t *n);
enum pos_err sq_attachment_set_thumb(struct pos_store *s, const char *user_id, const char *id,
				     const char *hash, int64_t bytes, int64_t now);
enum pos_err sq_blob_forget(struct pos_store *s, const char *user_id, const char *hash,
			    bool *dropped);
enum pos_err sq_attachment_unthumbed(struct pos_store *s, struct pos_arena *a, const char *user_id,
				     const char *after_id, size_t max,
				     struct pos_attachment **out, size_t *n);
enum pos_err sq_attachment_plain(struct pos_store *s, struct pos_arena *a, const char *user_id,
				 const char *after_id, size_t max, struct pos_attachment **out,
				 size_t *n);
enum pos_err sq_attachment_reseal(struct pos_store *s, const struct pos_attachment *at,
				  int64_t thumb_bytes, const char *old_hash, const char *old_thumb,
				  int64_t now);
/* Lifecycle (sqlite_lifecycle.c). */
/* The SQL of the lifecycle scan and of the graph's edges, whose plans are
 * pinned to their indexes (INDEXED BY): tests/unit/test_lifecycle.c checks
 * them with EXPLAIN QUERY PLAN. Static strings. */
const char *sq_lifecycle_scan_sql(void);
const char *sq_graph_edges_sql(void);
enum pos_err sq_lifecycle_scan(struct pos_store *s, struct pos_arena *a,
			       const char *user_id, int64_t after_created, int64_t after_seq,
			       size_t max,
			       const char *now_rfc3339, struct pos_life_row **out,
			       size_t *n);
enum pos_err sq_tag_touches(struct pos_store *s, struct pos_arena *a,
			    const char *user_id, int64_t since,
			    struct pos_tag_touch **out, size_t *n);
enum pos_err sq_lifecycle_apply(struct pos_store *s, const char *user_id,
				const struct pos_life_change *v, size_t n, int64_t now);
enum pos_err sq_memory_series(struct pos_store *s, struct pos_arena *a, const char *user_id,
			      int64_t since, bool hide_chat, struct pos_memory_series *out);
enum pos_err sq_memory_keys_by_seq(struct pos_store *s, const char *user_id,
				   const int64_t *seqs, size_t n, char (*ids)[POS_UUID_SIZE],
				   int *types, bool *found);
enum pos_err sq_autolink_parent(struct pos_store *s, const char *user_id, int64_t seq,
				char parent_id[POS_UUID_SIZE]);
enum pos_err sq_autolink_apply(struct pos_store *s, const char *user_id, const char *id,
			       const struct pos_autolink *v, size_t n, const char *parent_id,
			       int64_t now);
enum pos_err sq_memory_merge_move(struct pos_store *s, const char *user_id,
				  const char *kept_id, const char *ids_json,
				  const char *detail_json, int64_t now);

#endif
