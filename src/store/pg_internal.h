/*
 * pg_internal.h — shared between the files of the PostgreSQL backend
 * (src/store/pg*.c): the connection pool, prepared statements, parameter
 * building, running statements, transactions and reading results. Not for
 * use outside src/store/pg*.c and src/store/open.c.
 *
 * Each domain file (pg_accounts.c, pg_memories.c, ...) defines its vtable
 * as a global const `pg_<domain>_ops` and its DDL as `pg_ddl_<domain>[]`;
 * pg.c wires them into the store and runs the DDL as schema version 1.
 *
 * Usage:
 *   PG_STMT(st_user_by_id, "SELECT ... FROM users WHERE id = $1");
 *   struct pg_conn *c = pg_get(s);
 *   if (!c) return POS_ERR_STORE;
 *   struct pg_params p = {0};
 *   pg_p_text(&p, id);
 *   PGresult *r = NULL;
 *   enum pos_err rc = pg_run(c, &st_user_by_id, &p, &r);
 *   ... pg_text(a, r, 0, 0) ...
 *   PQclear(r);
 *   pg_put(s, c);
 *
 * Thread-safety: pg_get/pg_put from any thread; a borrowed connection is
 * the borrower's alone until it is given back.
 */
#ifndef POS_STORE_PG_INTERNAL_H
#define POS_STORE_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

struct pg_pool;
struct pg_keys;

struct pg_store {                /* the backend; base first */
	struct pos_store base;
	/* pool, conninfo, server-key state: pg.c's business */
	struct pg_pool *pool;
	struct pg_keys *keys;
};

struct pg_conn;                  /* one pooled connection */

/* Borrows a connection from the pool (waits up to 5 s; NULL + logged when
 * none). Always give it back with pg_put, on every path. */
struct pg_conn *pg_get(struct pos_store *s);
void pg_put(struct pos_store *s, struct pg_conn *c);

/* A statement prepared once per connection (lazily, on first use): declare
 * them file-static: PG_STMT(st_user_by_id, "SELECT ... WHERE id = $1");
 * The statement is known by the address of its struct; `name` is only for
 * log lines. */
struct pg_stmt { const char *name; const char *sql; };
#define PG_STMT(var, text) static const struct pg_stmt var = { #var, text }

/* Parameters, all sent as text except bytes (binary). Up to PG_MAX_PARAMS
 * (more are ignored and make pg_run fail, logged). Zero-initialise. */
#define PG_MAX_PARAMS 40
struct pg_params {
	int n;
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS], fmt[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][32];     /* storage for numbers */
};
void pg_p_text(struct pg_params *p, const char *s);        /* NULL → SQL NULL */
void pg_p_textn(struct pg_params *p, const char *s, size_t n); /* not NUL-terminated */
void pg_p_i64(struct pg_params *p, int64_t v);
void pg_p_f64(struct pg_params *p, double v);
void pg_p_bytes(struct pg_params *p, const void *b, size_t n); /* NULL → SQL NULL */
void pg_p_null(struct pg_params *p);

/* Runs a prepared statement / an ad-hoc SQL text (dynamic filters). Results
 * are text format. *out (may be NULL when the caller wants no rows) must be
 * PQclear'ed. Returns POS_OK or POS_ERR_STORE (logged: statement name +
 * SQLSTATE, never values). A caller that expects a unique violation checks
 * pg_last_sqlstate(c) == "23505" and maps it (e.g. POS_ERR_EMAIL_TAKEN). */
enum pos_err pg_run(struct pg_conn *c, const struct pg_stmt *st,
		    const struct pg_params *p, PGresult **out);
enum pos_err pg_run_sql(struct pg_conn *c, const char *sql,
			const struct pg_params *p, PGresult **out);
const char *pg_last_sqlstate(struct pg_conn *c);   /* "" when none */
uint64_t pg_affected(PGresult *r);                 /* PQcmdTuples as a number */

/* Transactions (BEGIN / COMMIT / ROLLBACK); pg_put rolls back an open one. */
enum pos_err pg_begin(struct pg_conn *c);
enum pos_err pg_commit(struct pg_conn *c);
void pg_rollback(struct pg_conn *c);

/* Readers (row r, column i): text copied into the arena (NULL for SQL NULL),
 * numbers parsed (0 for NULL), bytea decoded into the arena. */
const char *pg_text(struct pos_arena *a, PGresult *res, int r, int i);
int64_t pg_i64(PGresult *res, int r, int i);
double pg_f64(PGresult *res, int r, int i);
bool pg_isnull(PGresult *res, int r, int i);
enum pos_err pg_bytes(struct pos_arena *a, PGresult *res, int r, int i,
		      const uint8_t **out, size_t *len);

extern const char pg_ddl_accounts[], pg_ddl_keys[], pg_ddl_memories[],
	pg_ddl_chat[], pg_ddl_shares[], pg_ddl_jobs[], pg_ddl_sync[],
	pg_ddl_plugins[], pg_ddl_files[];
/* Later schema versions, by domain (pg.c's migration list). */
extern const char pg_ddl_memories_v2[], pg_ddl_thumbs[], pg_ddl_unthumbed[];
extern const struct pos_store_accounts pg_accounts_ops;
extern const struct pos_store_memories pg_memories_ops;
extern const struct pos_store_chat pg_chat_ops;
extern const struct pos_store_jobs pg_jobs_ops;
extern const struct pos_store_sync pg_sync_ops;
extern const struct pos_store_shares pg_shares_ops;
extern const struct pos_store_keys pg_keys_ops;
extern const struct pos_store_plugins pg_plugins_ops;
extern const struct pos_store_files pg_files_ops;

/* ---- pgcore helpers (added; the API above stays as it is) ---- */

/* Column i as a time: POS_TIME_NONE for SQL NULL. */
int64_t pg_time(PGresult *res, int r, int i);
/* A time parameter: POS_TIME_NONE sends SQL NULL. */
void pg_p_time(struct pg_params *p, int64_t t);
/* Copies column i (a UUID as text) into dst (POS_UUID_SIZE); "" for NULL. */
void pg_uuid(char dst[POS_UUID_SIZE], PGresult *res, int r, int i);
/* Rows of a result (0 for NULL). */
int pg_rows(PGresult *res);
/* Runs `sql` (no parameters, may hold several statements). */
enum pos_err pg_exec(struct pg_conn *c, const char *sql);

/*
 * A column of a batch write: a PostgreSQL array literal built one element
 * per row (each quoted and escaped; SQL NULL for a NULL pointer), sent as
 * one text parameter and read back by unnest($n::text[]) — or bigint[],
 * float8[]; pg_col_hex elements are decode(x, 'hex') to bytea. So a batch
 * of rows is one statement per table (pg_memories.c's bulk insert). The
 * first failure sticks in rc (NOMEM past the size cap; STORE for a text
 * holding NUL, which PostgreSQL text cannot). pg_col_done closes the
 * literal once and returns it (valid until pg_col_free), NULL on failure.
 *
 *   struct pg_col ids; pg_col_init(&ids);
 *   for (...) pg_col_text(&ids, m[i].id);
 *   pg_p_text(&p, pg_col_done(&ids));   ... run ... pg_col_free(&ids);
 */
struct pg_col {
	struct pos_buf b;
	size_t n;                   /* elements so far */
	enum pos_err rc;
};
void pg_col_init(struct pg_col *c);
void pg_col_free(struct pg_col *c);
void pg_col_text(struct pg_col *c, const char *s);
void pg_col_textn(struct pg_col *c, const char *s, size_t n);
void pg_col_i64(struct pg_col *c, int64_t v);
void pg_col_time(struct pg_col *c, int64_t t);       /* POS_TIME_NONE → NULL */
void pg_col_f64(struct pg_col *c, double v);
void pg_col_hex(struct pg_col *c, const void *b, size_t n);
const char *pg_col_done(struct pg_col *c);

/*
 * One statement, the shapes every domain file repeats:
 * - pg_do: borrows a connection, runs st, gives it back (*out, may be
 *   NULL, keeps the rows: a result outlives its connection);
 * - pg_do_write: the same for a write; with must_change, changing no row
 *   is POS_ERR_NOT_FOUND;
 * - pg_do_i64: the first column of the first row as a number (0 when no
 *   row, or on error);
 * - pg_run_n: st on the caller's connection (its transaction), *n (may be
 *   NULL) the rows it changed.
 */
enum pos_err pg_do(struct pos_store *s, const struct pg_stmt *st, const struct pg_params *p,
		   PGresult **out);
enum pos_err pg_do_write(struct pos_store *s, const struct pg_stmt *st,
			 const struct pg_params *p, bool must_change);
enum pos_err pg_do_i64(struct pos_store *s, const struct pg_stmt *st,
		       const struct pg_params *p, int64_t *v);
enum pos_err pg_run_n(struct pg_conn *c, const struct pg_stmt *st, const struct pg_params *p,
		      uint64_t *n);

/* The pool's side of a connection (pg.c): open one for pool slot `slot`
 * (NULL, logged, when the server cannot be reached); close; its slot;
 * make it ready to lend again after use (rolls back an open transaction,
 * reconnects a broken one: false when that failed); make sure it is
 * connected before lending it (false when it cannot be); its PGconn. */
struct pg_conn *pg_conn_open(const char *conninfo, unsigned slot);
void pg_conn_close(struct pg_conn *c);
unsigned pg_conn_slot(const struct pg_conn *c);
bool pg_conn_release(struct pg_conn *c);
bool pg_conn_usable(struct pg_conn *c);
PGconn *pg_conn_db(struct pg_conn *c);

/* ---- pgmem: memory-row reader (pg_memrow.c), declarations below ---- */
/*
 * pgmem's part: the memory row (columns and reader, shared with
 * pg_shares.c), dynamic SQL with numbered parameters, the filters of a
 * memory query and the translation of the search layer's FTS5 expressions
 * into tsquery (pg_memrow.c); the operations of pg_memories_ops by file
 * (pg_memories.c, pg_search.c, pg_graph.c, pg_lifecycle.c).
 */
#include "base/buf.h"

/* Whether metadata.pinned is true (0/1), for a column expression. */
#define PG_PINNED(md) "pos_pinned(" md ")"
/* A memory (table `memories`, unaliased) that an access or an edit brings
 * back to active (docs/LIFECYCLE.md). */
#define PG_REVIVABLE                                                            \
	"(layer IN ('reference', 'archive') AND layer_locked = 0 AND "            \
	PG_PINNED("metadata") " = 0)"

/* A memory row of table alias m, read by pg_read_memory (26 columns). */
#define PG_MEM_COLS                                                             \
	"m.id, m.user_id, m.content, m.type, m.layer, m.source, m.created_at,"  \
	" m.updated_at, m.last_accessed_at, m.parent_memory_id, m.tags,"        \
	" m.importance_score, m.access_count, m.is_encrypted, m.shared_with,"   \
	" m.metadata, m.attachments, m.external_id,"                            \
	" (SELECT coalesce(json_agg(x.rid), '[]')::text FROM ("                 \
	" SELECT related_memory_id AS rid FROM memory_relationships"            \
	" WHERE memory_id = m.id AND relationship_type = 'related'"             \
	" UNION SELECT memory_id FROM memory_relationships"                     \
	" WHERE related_memory_id = m.id AND relationship_type = 'related') x)," \
	" m.seq, m.thread, m.context, m.sealed, m.layer_locked, m.importance_set," \
	" " PG_PINNED("m.metadata")
#define PG_MEM_NCOLS 26

/* Reads the memory of row `r` whose PG_MEM_COLS start at column `col0`. */
enum pos_err pg_read_memory(struct pos_arena *a, PGresult *res, int r, int col0,
			    struct pos_memory *m);

/* SQL text built with its parameters: every pg_sql_* appends "$n" for a
 * new parameter. The first failure sticks in rc (and stops appending). */
struct pg_sql {
	struct pos_buf b;
	struct pg_params p;
	struct pos_arena *a;        /* parameter values built here live in it */
	enum pos_err rc;
};
void pg_sql_init(struct pg_sql *q, struct pos_arena *a);
void pg_sql_free(struct pg_sql *q);
void pg_sql_add(struct pg_sql *q, const char *s);
void pg_sql_text(struct pg_sql *q, const char *v);     /* borrowed until the run */
void pg_sql_i64(struct pg_sql *q, int64_t v);
/* A text[] literal of v[0..n) in the arena (NULL on NOMEM). */
const char *pg_text_array(struct pos_arena *a, const char *const *v, size_t n);
/* A bigint[] literal. */
const char *pg_i64_array(struct pos_arena *a, const int64_t *v, size_t n);

/*
 * " AND ..." conditions on alias m for the filters of `f` (type, layer,
 * source or alias, tags, time range, text require/exclude, hide chat); the
 * caller has written "WHERE m.user_id = $1" with f->user_id as $1.
 */
void pg_sql_filters(struct pg_sql *q, const struct pos_memory_query *f);
/*
 * The tsquery expression of an FTS5 expression as search/query.c writes it
 * (quoted strings, a trailing * for a prefix, AND, OR, NOT, parentheses):
 * each string is phraseto_tsquery('english', ...) of its text, a prefix
 * to_tsquery(word:*). POS_ERR_INTERNAL when it does not parse.
 */
void pg_sql_tsquery(struct pg_sql *q, const char *match);
/* The words of the strings of an FTS5 expression, joined by spaces (for
 * the BM25 terms), in the arena; "" when none. */
const char *pg_match_words(struct pos_arena *a, const char *match);

/* Runs q (rc checked first). */
enum pos_err pg_sql_run(struct pg_conn *c, struct pg_sql *q, PGresult **out);

/* The operations of pg_memories_ops, by file (pg_search.c, pg_graph.c,
 * pg_lifecycle.c); see store.h. */
enum pos_err pg_keyword_search(struct pos_store *s, struct pos_arena *a,
			       const struct pos_memory_query *q, const char *match,
			       struct pos_hit **out, size_t *n);
enum pos_err pg_term_frequency(struct pos_store *s, const char *word, int64_t *df,
			       int64_t *docs);
enum pos_err pg_stem_frequency(struct pos_store *s, const char *stem, size_t len,
			       int64_t *df);
enum pos_err pg_stem_near(struct pos_store *s, const char *stem, size_t len, bool *near);
enum pos_err pg_filter_seqs(struct pos_store *s, struct pos_arena *a,
			    const struct pos_memory_query *q, size_t max, int64_t **out,
			    size_t *n);
enum pos_err pg_memories_by_seq(struct pos_store *s, struct pos_arena *a,
				const char *user_id, const int64_t *seqs, size_t n,
				struct pos_memory *out, bool *found);
enum pos_err pg_thread_tail(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *thread, size_t max, const char **out, size_t *n);
enum pos_err pg_vector_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			   int64_t seq, struct pos_vec *out);
enum pos_err pg_vectors_load(struct pos_store *s, const char *user_id, const char *model,
			     void (*fn)(void *ctx, int64_t seq, float scale, const int8_t *q,
					unsigned dim),
			     void *ctx);
enum pos_err pg_vectors_missing(struct pos_store *s, struct pos_arena *a, const char *model,
				const char *user_id, int64_t after_seq, size_t max,
				struct pos_memory **out, size_t *n);
enum pos_err pg_vectors_missing_count(struct pos_store *s, const char *model,
				      const char *user_id, int64_t *n);
enum pos_err pg_vectors_put(struct pos_store *s, const struct pos_memory *m, size_t n);
/* Appends v to four batch columns (model text, dim bigint, scale float8,
 * vec hex: scale 0 and the sealed bytes under encryption at rest), as
 * pg_vec_put writes one. */
void pg_vec_cols(struct pg_col col[4], const struct pos_vec *v);
/* Writes v for row `seq` inside the caller's transaction (no-op without q). */
enum pos_err pg_vec_put(struct pg_conn *c, int64_t seq, const char *user_id,
			const struct pos_vec *v);
enum pos_err pg_tag_counts(struct pos_store *s, struct pos_arena *a, const char *user_id,
			   unsigned limit, bool hide_chat, const char **json);
enum pos_err pg_memory_stats(struct pos_store *s, struct pos_arena *a, const char *user_id,
			     unsigned days, unsigned tags, bool hide_chat,
			     struct pos_memory_stats *out);
enum pos_err pg_memory_series(struct pos_store *s, struct pos_arena *a, const char *user_id,
			      int64_t since, bool hide_chat, struct pos_memory_series *out);
enum pos_err pg_graph_nodes(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *ids_json, unsigned limit, struct pos_graph_node **out,
			    size_t *n);
enum pos_err pg_graph_edges(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *ids_json, unsigned limit, struct pos_graph_edge **out,
			    size_t *n);
enum pos_err pg_relationships_from(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *seqs_json, unsigned limit, struct pos_graph_edge **out,
			    size_t *n);
enum pos_err pg_lifecycle_scan(struct pos_store *s, struct pos_arena *a, const char *user_id,
			       int64_t after_created, int64_t after_seq, size_t max,
			       const char *now_rfc3339, struct pos_life_row **out, size_t *n);
enum pos_err pg_tag_touches(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    int64_t since, struct pos_tag_touch **out, size_t *n);
enum pos_err pg_lifecycle_apply(struct pos_store *s, const char *user_id,
				const struct pos_life_change *v, size_t n, int64_t now);
enum pos_err pg_memory_merge_move(struct pos_store *s, const char *user_id,
				  const char *kept_id, const char *ids_json,
				  const char *detail_json, int64_t now);
enum pos_err pg_autolink_parent(struct pos_store *s, const char *user_id, int64_t seq,
				char parent_id[POS_UUID_SIZE]);
enum pos_err pg_autolink_apply(struct pos_store *s, const char *user_id, const char *id,
			       const struct pos_autolink *v, size_t n, const char *parent_id,
			       int64_t now);
/* Memories of every user (the sum of the users' counts). */
enum pos_err pg_memory_count_all(struct pos_store *s, int64_t *n);
/* ---- end pgmem ---- */

#endif
