/*
 * migrate.c — `personalos migrate --from SRC --to DST`: moves a whole store
 * from SQLite to PostgreSQL or back (docs/DEPLOY.md, "Moving a store
 * between SQLite and PostgreSQL").
 *
 * The PostgreSQL schema mirrors SQLite's tables and columns, so the copy is
 * table by table (cli/migrate_db.h), parents before children (the foreign
 * keys), in batches, all inside one transaction on the destination that is
 * committed only after verification: the row count and an order-independent
 * checksum of every table, read back from the destination inside that
 * transaction, must equal the source's. On any mismatch or error nothing is
 * written. Both sides are first opened as stores (pending migrations, keys
 * sealed under a configured master key), then the source is read in one
 * snapshot (a read transaction), so a server may keep running on it, though
 * what it writes meanwhile is not carried over. The destination must hold
 * no users yet.
 *
 * Derived data: SQLite's full-text index is filled by its triggers as rows
 * land; the PostgreSQL keyword index is the backend's own (a column kept by
 * the database), so nothing is rebuilt by hand. users.bytes_used, which
 * triggers on memories and blobs adjust as rows land, is written again from
 * the source after the copy. The server keys move from the key file of the
 * data directory to PostgreSQL's server_keys table and back.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "cli/migrate_db.h"
#include "cli/migrate_keys.h"
#include "store/open.h"
#include "store/store.h"

#define DEFAULT_BATCH 500
#define MAX_BATCH 10000

/* Bookkeeping of each side's own schema, never copied: the migration
 * versions differ between backends (SQLite's schema_migrations, the
 * PostgreSQL store's schema_version), and the server keys travel apart. */
/* memories_kw_log is SQLite's own change log for its in-memory keyword
 * indexes (sqlite_kw.c): derived, refilled by its triggers as rows land. */
static const char *const not_copied[] = {"schema_migrations", "schema_version", "server_keys",
					 "memories_kw_log", NULL};

/* Tables whose rows triggers on other tables change as rows land. */
static const char *const rewritten[] = {"users", NULL};

struct side {
	const char *spec;         /* as given */
	bool pg;
	char dir[PATH_MAX];       /* SQLite: the data directory */
	char db_path[PATH_MAX];   /* SQLite: DIR/personalos.db */
	struct mig_db *db;
};

struct plan {
	int n;
	struct mig_table t[MIG_MAX_TABLES];
};

struct copy_ctx {
	struct mig_writer *w;
	struct mig_table *t;
	int64_t done;
	bool tty;
};

static bool listed(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

static int parse_side(const char *spec, const struct pos_config *cfg, struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->spec = spec;
	if (mig_is_pg(spec)) {
		s->pg = true;
		return 0;
	}
	if (strncmp(spec, "sqlite:", 7) != 0) {
		fprintf(stderr, "personalos migrate: '%s' is neither sqlite:DIR nor a"
				" postgres:// URL\n", spec);
		return -1;
	}
	const char *dir = spec[7] ? spec + 7 : cfg->data_dir;
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s", dir) >= sizeof(s->dir) ||
	    (size_t)snprintf(s->db_path, sizeof(s->db_path), "%s/personalos.db", dir) >=
		    sizeof(s->db_path)) {
		fprintf(stderr, "personalos migrate: path too long\n");
		return -1;
	}
	return 0;
}

/* What to print for a side: a URL loses its password. */
static void describe(const struct side *s, char *out, size_t cap)
{
	if (!s->pg) {
		snprintf(out, cap, "sqlite:%s", s->dir);
		return;
	}
	const char *scheme_end = strstr(s->spec, "://");
	const char *at = strrchr(s->spec, '@');
	if (scheme_end && at && at > scheme_end) {
		const char *colon = memchr(scheme_end + 3, ':', (size_t)(at - scheme_end - 3));
		if (colon) {
			snprintf(out, cap, "%.*s:***%s", (int)(colon - s->spec), s->spec, at);
			return;
		}
	}
	/* a password in the query string (?password=) is cut off too */
	const char *q = strchr(s->spec, '?');
	snprintf(out, cap, "%.*s", q ? (int)(q - s->spec) : (int)strlen(s->spec), s->spec);
}

/*
 * Brings the side's schema up to this build: opening the store applies its
 * migrations (and, for a new SQLite directory, creates it). A source data
 * directory must exist and hold a database.
 */
static int prepare(const struct side *s, bool source, const struct pos_config *cfg)
{
	struct pos_error err;
	struct pos_store *st = NULL;
	pos_error_clear(&err);
	if (!s->pg && source && access(s->db_path, R_OK) != 0) {
		fprintf(stderr, "personalos migrate: no database at %s (%s)\n", s->db_path,
			strerror(errno));
		return -1;
	}
	if (s->pg) {
		/* the store's own opening: migrations under the advisory lock,
		 * and plain server keys sealed when a master key is set */
		struct pos_config pg = *cfg;
		snprintf(pg.store, sizeof(pg.store), "%s", s->spec);
		pg.store_pool = 1;
		if (pos_store_open(&pg, &st, &err)) {
			fprintf(stderr, "personalos migrate: %s\n", err.message);
			return -1;
		}
	} else if (pos_sqlite_open_keyed(s->dir, cfg->master_key_file, &st, &err)) {
		fprintf(stderr, "personalos migrate: %s\n", err.message);
		return -1;
	}
	pos_store_close(st);
	return 0;
}

static struct mig_table *find_table(struct plan *p, const char *name)
{
	for (int i = 0; i < p->n; i++)
		if (!strcmp(p->t[i].name, name))
			return &p->t[i];
	return NULL;
}

static bool has_col(const struct mig_col *cols, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(cols[i].name, name))
			return true;
	return false;
}

/* make_plan's work, with its buffers given (see below). */
static int make_plan_from(struct side *src, struct side *sq, struct side *pg,
			  char sq_names[][MIG_NAME_MAX], char pg_names[][MIG_NAME_MAX],
			  struct plan *rawp, struct plan *plan)
{
	int nsq, npg;
	if (mig_db_tables(sq->db, sq_names, MIG_MAX_TABLES, &nsq) ||
	    mig_db_tables(pg->db, pg_names, MIG_MAX_TABLES, &npg))
		return -1;
	for (int i = 0; i < nsq; i++) {
		const char *name = sq_names[i];
		if (listed(not_copied, name))
			continue;
		bool in_pg = false;
		for (int j = 0; j < npg; j++)
			in_pg |= !strcmp(pg_names[j], name);
		if (!in_pg) {
			int64_t rows = 0;
			if (sq == src && (mig_db_count(sq->db, name, &rows) || rows > 0)) {
				fprintf(stderr, "personalos migrate: PostgreSQL has no table %s"
						" (the SQLite one holds %" PRId64 " rows)\n",
					name, rows);
				return -1;
			}
			fprintf(stderr, "  table %s: not in PostgreSQL, %s\n", name,
				sq == src ? "empty: skipped" : "left empty");
			continue;
		}
		struct mig_table *t = &rawp->t[rawp->n++];
		struct mig_col sqc[MIG_MAX_COLS], pgc[MIG_MAX_COLS];
		int nsqc, npgc;
		memcpy(t->name, name, strnlen(name, MIG_NAME_MAX - 1));
		if (mig_db_columns(sq->db, name, sqc, MIG_MAX_COLS, &nsqc) ||
		    mig_db_columns(pg->db, name, pgc, MIG_MAX_COLS, &npgc))
			return -1;
		for (int c = 0; c < nsqc; c++) {
			if (!has_col(pgc, npgc, sqc[c].name) && sq == src) {
				fprintf(stderr, "personalos migrate: PostgreSQL table %s has no"
						" column %s\n", name, sqc[c].name);
				return -1;
			}
		}
		for (int c = 0; c < npgc; c++) {
			if (has_col(sqc, nsqc, pgc[c].name))
				t->cols[t->ncols++] = pgc[c];
			else
				fprintf(stderr, "  column %s.%s: PostgreSQL only, not copied\n",
					name, pgc[c].name);
		}
		if (t->ncols == 0) {
			fprintf(stderr, "personalos migrate: table %s has no common column\n", name);
			return -1;
		}
		if (mig_db_deps(sq->db, t))
			return -1;
	}
	for (int j = 0; j < npg; j++) {
		bool in_sq = listed(not_copied, pg_names[j]);
		for (int i = 0; i < nsq && !in_sq; i++)
			in_sq = !strcmp(sq_names[i], pg_names[j]);
		if (!in_sq)
			fprintf(stderr, "  table %s: PostgreSQL only, not copied\n", pg_names[j]);
	}
	/* parents first: repeatedly take a table whose parents are all placed */
	bool placed[MIG_MAX_TABLES] = {0};
	plan->n = 0;
	while (plan->n < rawp->n) {
		bool progress = false;
		for (int i = 0; i < rawp->n; i++) {
			if (placed[i])
				continue;
			bool ready = true;
			for (int d = 0; d < rawp->t[i].ndeps && ready; d++)
				if (find_table(rawp, rawp->t[i].deps[d]) &&
				    !find_table(plan, rawp->t[i].deps[d]))
					ready = false;
			if (ready) {
				plan->t[plan->n++] = rawp->t[i];
				placed[i] = true;
				progress = true;
			}
		}
		if (!progress) {
			fprintf(stderr, "personalos migrate: the foreign keys form a cycle\n");
			return -1;
		}
	}
	return 0;
}

/*
 * The tables both sides have, with the columns both have (kinds and
 * identity from PostgreSQL), in an order where every table comes after
 * the tables its foreign keys refer to. A column or table the source
 * holds that the destination lacks stops the migration (it would be lost).
 */
static int make_plan(struct side *src, struct side *dst, struct plan *plan)
{
	struct side *sq = src->pg ? dst : src, *pg = src->pg ? src : dst;
	char sq_names[MIG_MAX_TABLES][MIG_NAME_MAX], pg_names[MIG_MAX_TABLES][MIG_NAME_MAX];
	/* a plan is ~0.5 MB: not on the stack */
	struct plan *rawp = pos_calloc(1, sizeof(*rawp));
	if (!rawp)
		return -1;
	int rc = make_plan_from(src, sq, pg, sq_names, pg_names, rawp, plan);
	pos_free(rawp);
	return rc;
}

static void progress(const struct copy_ctx *c, bool last)
{
	if (c->tty)
		fprintf(stderr, "\r  %-22s %10" PRId64 " / %-10" PRId64 "%s", c->t->name, c->done,
			c->t->src_rows, last ? "\n" : "");
	else if (last)
		fprintf(stderr, "  %-22s %10" PRId64 " / %-10" PRId64 "\n", c->t->name, c->done,
			c->t->src_rows);
}

static int copy_row(void *ctx, const struct mig_val *v)
{
	struct copy_ctx *c = ctx;
	mig_row_sum(c->t, v, c->t->src_sum);
	if (mig_writer_put(c->w, v))
		return -1;
	if (++c->done % 5000 == 0)
		progress(c, false);
	return 0;
}

static int sum_row(void *ctx, const struct mig_val *v)
{
	struct mig_table *t = ctx;
	mig_row_sum(t, v, t->dst_sum);
	t->dst_rows++;
	return 0;
}

struct rewrite_ctx {
	struct mig_db *dst;
	struct mig_table *t;
};

static int rewrite_row(void *ctx, const struct mig_val *v)
{
	struct rewrite_ctx *r = ctx;
	return mig_db_update_row(r->dst, r->t, v);
}

static int copy_tables(struct side *src, struct side *dst, struct plan *plan, int batch)
{
	struct copy_ctx c = {.tty = isatty(2)};
	fprintf(stderr, "copying %d tables:\n", plan->n);
	for (int i = 0; i < plan->n; i++) {
		struct mig_table *t = &plan->t[i];
		if (mig_db_count(src->db, t->name, &t->src_rows))
			return -1;
		c.t = t;
		c.done = 0;
		memset(t->src_sum, 0, sizeof(t->src_sum));
		if (mig_writer_open(dst->db, t, batch, &c.w))
			return -1;
		int rc = mig_db_scan(src->db, t, batch, copy_row, &c);
		if (!rc)
			rc = mig_writer_flush(c.w);
		mig_writer_close(c.w);
		if (rc || mig_db_reset_sequences(dst->db, t))
			return -1;
		/* the count taken before the scan is what progress showed; the
		 * snapshot makes them equal */
		t->src_rows = c.done;
		progress(&c, true);
	}
	for (int i = 0; i < plan->n; i++) {
		if (!listed(rewritten, plan->t[i].name))
			continue;
		struct rewrite_ctx r = {dst->db, &plan->t[i]};
		if (mig_db_scan(src->db, &plan->t[i], batch, rewrite_row, &r))
			return -1;
	}
	return 0;
}

/* Reads every table back from the destination and prints the comparison;
 * 0 when every table matches. */
static int verify(struct side *dst, struct plan *plan, int batch)
{
	int bad = 0;
	int64_t rows = 0;
	printf("%-24s %12s %12s  %s\n", "table", "source rows", "dest rows", "checksum");
	for (int i = 0; i < plan->n; i++) {
		struct mig_table *t = &plan->t[i];
		t->dst_rows = 0;
		memset(t->dst_sum, 0, sizeof(t->dst_sum));
		if (mig_db_scan(dst->db, t, batch, sum_row, t))
			return -1;
		bool same = t->dst_rows == t->src_rows &&
			    !memcmp(t->dst_sum, t->src_sum, sizeof(t->src_sum));
		printf("%-24s %12" PRId64 " %12" PRId64 "  %016" PRIx64 " %s\n", t->name,
		       t->src_rows, t->dst_rows, t->src_sum[0], same ? "ok" : "MISMATCH");
		bad += !same;
		rows += t->src_rows;
	}
	if (bad)
		printf("verification FAILED: %d of %d tables differ; nothing was written\n", bad,
		       plan->n);
	else
		printf("verification ok: %d tables, %" PRId64 " rows\n", plan->n, rows);
	return bad ? -1 : 0;
}

static int begin(struct side *s, bool source)
{
	if (s->pg)
		return mig_db_exec(s->db, source ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
						 : "BEGIN");
	return mig_db_exec(s->db, source ? "BEGIN" : "BEGIN IMMEDIATE");
}

/* The destination holds no users; rows a fresh server wrote on its own
 * (server state) are cleared, children first. */
static int check_empty(struct side *dst, struct plan *plan)
{
	int64_t users = 0;
	if (mig_db_count(dst->db, "users", &users))
		return -1;
	if (users > 0) {
		fprintf(stderr, "personalos migrate: the destination already holds %" PRId64
				" user(s); migrate only into a new, empty store\n",
			users);
		return -1;
	}
	for (int i = plan->n - 1; i >= 0; i--) {
		int64_t n = 0;
		if (mig_db_count(dst->db, plan->t[i].name, &n))
			return -1;
		if (n > 0 && mig_db_clear(dst->db, plan->t[i].name))
			return -1;
	}
	return 0;
}

static const char usage[] =
	"see personalos migrate --help\n";

int pos_cli_migrate(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, usage);
	if (rc)
		return rc;
	const char *from = NULL, *to = NULL;
	int batch = DEFAULT_BATCH;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = !strcmp(a, "--from") ? &from : !strcmp(a, "--to") ? &to : NULL;
		if (slot && i + 1 < argc) {
			*slot = argv[++i];
		} else if (!strcmp(a, "--batch") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > MAX_BATCH) {
				fprintf(stderr, "personalos migrate: --batch must be 1..%d\n",
					MAX_BATCH);
				return 2;
			}
			batch = (int)v;
		} else {
			fprintf(stderr, "personalos migrate: unexpected argument '%s'\n%s", a, usage);
			return 2;
		}
	}
	if (!from || !to) {
		fprintf(stderr, "personalos migrate: --from and --to are both needed\n%s", usage);
		return 2;
	}
	struct side src, dst;
	if (parse_side(from, &cfg, &src) || parse_side(to, &cfg, &dst))
		return 2;
	if (src.pg == dst.pg) {
		fprintf(stderr, "personalos migrate: one side must be sqlite:DIR and the other"
				" a postgres:// URL\n");
		return 2;
	}
	char from_desc[PATH_MAX + 16], to_desc[PATH_MAX + 16];
	describe(&src, from_desc, sizeof(from_desc));
	describe(&dst, to_desc, sizeof(to_desc));
	fprintf(stderr, "migrating %s to %s\n", from_desc, to_desc);

	struct plan *plan = pos_calloc(1, sizeof(*plan));
	bool dst_began = false;
	if (!plan)
		return 1;
	rc = 1;
	if (prepare(&src, true, &cfg) || prepare(&dst, false, &cfg))
		goto out;
	if ((src.pg ? mig_db_open_pg(src.spec, &src.db)
		    : mig_db_open_sqlite(src.db_path, true, &src.db)) ||
	    (dst.pg ? mig_db_open_pg(dst.spec, &dst.db)
		    : mig_db_open_sqlite(dst.db_path, false, &dst.db)))
		goto out;
	if (make_plan(&src, &dst, plan) || begin(&src, true) || begin(&dst, false))
		goto rollback;
	dst_began = true;
	if (check_empty(&dst, plan) || copy_tables(&src, &dst, plan, batch))
		goto rollback;
	struct mig_keys_sides ks = {
		.sqlite_dir = src.pg ? dst.dir : src.dir,
		.cfg = &cfg,
		.pg_url = src.pg ? src.spec : dst.spec,
	};
	if (src.pg ? mig_keys_from_pg(src.db, &ks) : mig_keys_to_pg(dst.db, &ks))
		goto rollback;
	if (verify(&dst, plan, batch))
		goto rollback;
	if (mig_db_exec(dst.db, "COMMIT"))
		goto rollback;
	mig_db_exec(src.db, "COMMIT");
	/* with a master key, opening the store seals the keys just written */
	if (dst.pg && cfg.master_key_file[0] && prepare(&dst, false, &cfg))
		fprintf(stderr, "personalos migrate: the server keys are not sealed yet; the"
				" first server start seals them\n");
	fprintf(stderr, "migrated %s to %s (%d server key(s))\n", from_desc, to_desc, ks.moved);
	if (!src.pg)
		fprintf(stderr, "uploaded files stay in %s/blobs: give every instance that"
				" data directory (docs/DEPLOY.md)\n",
			src.dir);
	rc = 0;
	goto out;
rollback:
	if (dst_began)
		mig_db_exec(dst.db, "ROLLBACK");
	fprintf(stderr, "personalos migrate: stopped; the destination is unchanged\n");
out:
	mig_db_close(src.db);
	mig_db_close(dst.db);
	pos_free(plan);
	return rc;
}
