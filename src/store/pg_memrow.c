/*
 * pg_memrow.c — shared pieces of the PostgreSQL memory domain: the memory
 * row reader, SQL built with numbered parameters, the filters of a memory
 * query, and FTS5 expressions (as search/query.c writes them) turned into
 * tsquery expressions over the `tsv` column (docs/SEARCH.md, PostgreSQL).
 */
#include "store/pg_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"

enum {
	C_ID, C_USER, C_CONTENT, C_TYPE, C_LAYER, C_SOURCE, C_CREATED,
	C_UPDATED, C_ACCESSED, C_PARENT, C_TAGS, C_IMPORTANCE, C_ACCESS_COUNT,
	C_ENCRYPTED, C_SHARED, C_METADATA, C_ATTACHMENTS, C_EXTERNAL, C_RELATED,
	C_SEQ, C_THREAD, C_CONTEXT, C_SEALED, C_LAYER_LOCKED, C_IMPORTANCE_SET,
	C_PINNED
};
_Static_assert(C_PINNED + 1 == PG_MEM_NCOLS, "PG_MEM_COLS and its column enum agree");

static void copy_id(char *dst, size_t cap, PGresult *res, int r, int i)
{
	const char *v = PQgetisnull(res, r, i) ? "" : PQgetvalue(res, r, i);
	snprintf(dst, cap, "%s", v);
}

enum pos_err pg_read_memory(struct pos_arena *a, PGresult *res, int r, int c0,
			    struct pos_memory *m)
{
	memset(m, 0, sizeof(*m));
	copy_id(m->id, sizeof(m->id), res, r, c0 + C_ID);
	copy_id(m->user_id, sizeof(m->user_id), res, r, c0 + C_USER);
	m->content = pg_text(a, res, r, c0 + C_CONTENT);
	m->content_len = m->content ? (size_t)PQgetlength(res, r, c0 + C_CONTENT) : 0;
	int ty = pos_mem_type_parse(PQgetvalue(res, r, c0 + C_TYPE));
	int la = pos_mem_layer_parse(PQgetvalue(res, r, c0 + C_LAYER));
	if (ty < 0 || la < 0) {
		pos_error_log("store: memory row with unknown type or layer");
		return POS_ERR_CORRUPT;
	}
	m->type = (enum pos_mem_type)ty;
	m->layer = (enum pos_mem_layer)la;
	m->source = pg_text(a, res, r, c0 + C_SOURCE);
	m->created_at = pg_i64(res, r, c0 + C_CREATED);
	m->updated_at = pg_i64(res, r, c0 + C_UPDATED);
	m->last_accessed_at = pg_isnull(res, r, c0 + C_ACCESSED)
				      ? POS_TIME_NONE
				      : pg_i64(res, r, c0 + C_ACCESSED);
	copy_id(m->parent_id, sizeof(m->parent_id), res, r, c0 + C_PARENT);
	m->tags_json = pg_text(a, res, r, c0 + C_TAGS);
	m->importance = pg_f64(res, r, c0 + C_IMPORTANCE);
	m->access_count = pg_i64(res, r, c0 + C_ACCESS_COUNT);
	m->is_encrypted = pg_i64(res, r, c0 + C_ENCRYPTED) != 0;
	m->shared_with_json = pg_text(a, res, r, c0 + C_SHARED);
	m->metadata_json = pg_text(a, res, r, c0 + C_METADATA);
	m->attachments_json = pg_text(a, res, r, c0 + C_ATTACHMENTS);
	m->external_id = pg_text(a, res, r, c0 + C_EXTERNAL);
	m->related_json = pg_text(a, res, r, c0 + C_RELATED);
	m->seq = pg_i64(res, r, c0 + C_SEQ);
	m->thread = pg_text(a, res, r, c0 + C_THREAD);
	m->context = pg_text(a, res, r, c0 + C_CONTEXT);
	m->layer_locked = pg_i64(res, r, c0 + C_LAYER_LOCKED) != 0;
	m->importance_set = pg_i64(res, r, c0 + C_IMPORTANCE_SET) != 0;
	m->pinned = pg_i64(res, r, c0 + C_PINNED) != 0;
	if (!pg_isnull(res, r, c0 + C_SEALED)) {
		/* encryption at rest: the crypt layer opens it */
		enum pos_err rc = pg_bytes(a, res, r, c0 + C_SEALED, &m->sealed, &m->sealed_len);
		if (rc)
			return rc;
	}
	if (!m->related_json)
		m->related_json = "[]";
	if (!m->content || !m->source || !m->tags_json || !m->shared_with_json ||
	    !m->metadata_json || !m->attachments_json)
		return POS_ERR_NOMEM;
	return POS_OK;
}

/* ---- SQL with parameters ---- */

void pg_sql_init(struct pg_sql *q, struct pos_arena *a)
{
	memset(q, 0, sizeof(*q));
	pos_buf_init(&q->b, (size_t)16 << 20);
	q->a = a;
}

void pg_sql_free(struct pg_sql *q)
{
	pos_buf_free(&q->b);
}

void pg_sql_add(struct pg_sql *q, const char *s)
{
	if (!q->rc)
		q->rc = pos_buf_adds(&q->b, s);
}

static bool room(struct pg_sql *q)
{
	if (q->rc)
		return false;
	if (q->p.n >= PG_MAX_PARAMS) {
		pos_error_log("store: too many parameters in one statement");
		q->rc = POS_ERR_INTERNAL;
		return false;
	}
	return true;
}

void pg_sql_text(struct pg_sql *q, const char *v)
{
	if (!room(q))
		return;
	pg_p_text(&q->p, v);
	q->rc = pos_buf_addf(&q->b, "$%d", q->p.n);
}

void pg_sql_i64(struct pg_sql *q, int64_t v)
{
	if (!room(q))
		return;
	pg_p_i64(&q->p, v);
	q->rc = pos_buf_addf(&q->b, "$%d", q->p.n);
}

enum pos_err pg_sql_run(struct pg_conn *c, struct pg_sql *q, PGresult **out)
{
	if (out)
		*out = NULL;
	if (q->rc)
		return q->rc;
	return pg_run_sql(c, q->b.data, &q->p, out);
}

const char *pg_text_array(struct pos_arena *a, const char *const *v, size_t n)
{
	struct pos_buf b;
	pos_buf_init(&b, (size_t)64 << 20);
	enum pos_err rc = pos_buf_addc(&b, '{');
	for (size_t i = 0; !rc && i < n; i++) {
		if (i)
			rc = pos_buf_addc(&b, ',');
		if (!rc)
			rc = pos_buf_addc(&b, '"');
		for (const char *s = v[i]; !rc && *s; s++) {
			if (*s == '"' || *s == '\\')
				rc = pos_buf_addc(&b, '\\');
			if (!rc)
				rc = pos_buf_addc(&b, *s);
		}
		if (!rc)
			rc = pos_buf_addc(&b, '"');
	}
	if (!rc)
		rc = pos_buf_addc(&b, '}');
	const char *r = rc ? NULL : pos_arena_strndup(a, b.data, b.len);
	pos_buf_free(&b);
	return r;
}

const char *pg_i64_array(struct pos_arena *a, const int64_t *v, size_t n)
{
	struct pos_buf b;
	pos_buf_init(&b, (size_t)64 << 20);
	enum pos_err rc = pos_buf_addc(&b, '{');
	for (size_t i = 0; !rc && i < n; i++)
		rc = pos_buf_addf(&b, i ? ",%lld" : "%lld", (long long)v[i]);
	if (!rc)
		rc = pos_buf_addc(&b, '}');
	const char *r = rc ? NULL : pos_arena_strndup(a, b.data, b.len);
	pos_buf_free(&b);
	return r;
}

/* ---- filters ---- */

void pg_sql_filters(struct pg_sql *q, const struct pos_memory_query *f)
{
	if (f->type >= 0) {
		pg_sql_add(q, " AND m.type = ");
		pg_sql_text(q, pos_mem_type_name((enum pos_mem_type)f->type));
	}
	if (f->layer >= 0) {
		pg_sql_add(q, " AND m.layer = ");
		pg_sql_text(q, pos_mem_layer_name((enum pos_mem_layer)f->layer));
	}
	if (f->source) {
		/* one source, or the members of an alias */
		const char *group = pos_source_alias_json(f->source);
		if (group) {
			pg_sql_add(q, " AND m.source IN (SELECT jsonb_array_elements_text(");
			pg_sql_text(q, group);
			pg_sql_add(q, "::jsonb))");
		} else {
			pg_sql_add(q, " AND m.source = ");
			pg_sql_text(q, f->source);
		}
	}
	if (f->n_tags) {
		const char *arr = pg_text_array(q->a, f->tags, f->n_tags);
		if (!arr && !q->rc)
			q->rc = POS_ERR_NOMEM;
		/* every tag, ignoring ASCII case, like SQLite's lower() */
		pg_sql_add(q, " AND m.seq IN (SELECT memory_seq FROM memory_tags"
			      " WHERE user_id = m.user_id AND lower(tag) IN (SELECT lower(t) FROM unnest(");
		int idx = q->p.n + 1;
		pg_sql_text(q, arr);
		pg_sql_add(q, "::text[]) t) GROUP BY memory_seq HAVING count(DISTINCT lower(tag)) ="
			      " (SELECT count(DISTINCT lower(t)) FROM unnest(");
		if (!q->rc)
			q->rc = pos_buf_addf(&q->b, "$%d::text[]) t))", idx);
	}
	if (f->after != POS_TIME_NONE) {
		pg_sql_add(q, " AND m.created_at >= ");
		pg_sql_i64(q, f->after);
	}
	if (f->before != POS_TIME_NONE) {
		pg_sql_add(q, " AND m.created_at < ");
		pg_sql_i64(q, f->before);
	}
	/* text constraints go through the index, with its stemming */
	if (f->fts_require) {
		/* a phrase of stop words only (not indexed here) constrains
		 * nothing rather than everything */
		pg_sql_add(q, " AND (numnode(");
		pg_sql_tsquery(q, f->fts_require);
		pg_sql_add(q, ") = 0 OR m.tsv @@ ");
		pg_sql_tsquery(q, f->fts_require);
		pg_sql_add(q, ")");
	}
	if (f->fts_exclude) {
		pg_sql_add(q, " AND NOT (m.tsv @@ ");
		pg_sql_tsquery(q, f->fts_exclude);
		pg_sql_add(q, ")");
	}
	if (f->hide_chat)
		pg_sql_add(q, " AND NOT (m.type = 'conversation' AND m.source = 'chat')");
}

/* ---- FTS5 expressions → tsquery ---- */

struct tsq {
	struct pg_sql *q;
	const char *p;
	int arr;                    /* the text[] parameter of the strings */
	struct pos_buf items;       /* the strings, as a text[] literal body */
	int n;
	int depth;
	bool bad;
};

static void skip_space(struct tsq *t)
{
	while (*t->p == ' ' || *t->p == '\t' || *t->p == '\n')
		t->p++;
}

static bool word_is(struct tsq *t, const char *w)
{
	size_t n = strlen(w);
	return strncmp(t->p, w, n) == 0 && (t->p[n] == ' ' || t->p[n] == '(' ||
					       t->p[n] == '"' || t->p[n] == '\0');
}

/* Adds one string to the array; returns its 1-based index. */
static int add_item(struct tsq *t, const char *s, size_t n)
{
	struct pos_buf *b = &t->items;
	enum pos_err rc = pos_buf_adds(b, t->n ? ",\"" : "\"");
	for (size_t i = 0; !rc && i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			rc = pos_buf_addc(b, '\\');
		if (!rc)
			rc = pos_buf_addc(b, s[i]);
	}
	if (!rc)
		rc = pos_buf_addc(b, '"');
	if (rc && !t->q->rc)
		t->q->rc = rc;
	return ++t->n;
}

static void emit(struct tsq *t, const char *s)
{
	pg_sql_add(t->q, s);
}

static void parse_or(struct tsq *t);

static void parse_primary(struct tsq *t)
{
	skip_space(t);
	if (*t->p == '(') {
		t->p++;
		if (++t->depth > 32) {
			t->bad = true;
			return;
		}
		parse_or(t);
		t->depth--;
		skip_space(t);
		if (*t->p != ')') {
			t->bad = true;
			return;
		}
		t->p++;
		return;
	}
	if (*t->p != '"') {
		t->bad = true;
		return;
	}
	/* the string, "" standing for " */
	char tmp[1024];
	struct pos_buf s;
	pos_buf_init(&s, (size_t)1 << 20);
	enum pos_err rc = POS_OK;
	for (t->p++; !rc && *t->p; t->p++) {
		if (*t->p == '"') {
			if (t->p[1] != '"')
				break;
			t->p++;
		}
		rc = pos_buf_addc(&s, *t->p);
	}
	if (*t->p != '"' || rc) {
		pos_buf_free(&s);
		t->bad = true;
		return;
	}
	t->p++;
	bool prefix = *t->p == '*';
	if (prefix) {
		t->p++;
		/* a prefix of one plain word: to_tsquery's own syntax must
		 * never see anything else; otherwise the phrase alone */
		size_t k = 0;
		for (size_t i = 0; i < s.len && k + 4 < sizeof(tmp); i++) {
			char ch = s.data[i];
			if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
				tmp[k++] = ch;
			else if (ch >= 'A' && ch <= 'Z')
				tmp[k++] = (char)(ch - 'A' + 'a');
			else
				prefix = false;
		}
		if (k == 0)
			prefix = false;
		if (prefix)
			memcpy(tmp + k, ":*", 3);
	}
	char ref[96];
	int idx = prefix ? add_item(t, tmp, strlen(tmp)) : add_item(t, s.len ? s.data : "", s.len);
	snprintf(ref, sizeof(ref), "%s('english'::regconfig, ($%d::text[])[%d])",
		 prefix ? "to_tsquery" : "phraseto_tsquery", t->arr, idx);
	emit(t, ref);
	pos_buf_free(&s);
}

static void parse_not(struct tsq *t)
{
	emit(t, "(");
	parse_primary(t);
	for (;;) {
		skip_space(t);
		if (t->bad || !word_is(t, "NOT"))
			break;
		t->p += 3;
		emit(t, " && !!");
		parse_primary(t);
	}
	emit(t, ")");
}

static void parse_and(struct tsq *t)
{
	emit(t, "(");
	parse_not(t);
	for (;;) {
		skip_space(t);
		if (t->bad)
			break;
		if (word_is(t, "AND"))
			t->p += 3;
		else if (!(*t->p == '"' || *t->p == '('))
			break; /* adjacency is AND in FTS5 */
		emit(t, " && ");
		parse_not(t);
	}
	emit(t, ")");
}

static void parse_or(struct tsq *t)
{
	emit(t, "(");
	parse_and(t);
	for (;;) {
		skip_space(t);
		if (t->bad || !word_is(t, "OR"))
			break;
		t->p += 2;
		emit(t, " || ");
		parse_and(t);
	}
	emit(t, ")");
}

void pg_sql_tsquery(struct pg_sql *q, const char *match)
{
	if (q->rc)
		return;
	if (q->p.n >= PG_MAX_PARAMS) {
		(void)room(q);
		return;
	}
	/* reserve the array parameter; its value is known after the parse */
	pg_p_text(&q->p, "{}");
	struct tsq t = {q, match, q->p.n, {0}, 0, 0, false};
	pos_buf_init(&t.items, (size_t)16 << 20);
	if (pos_buf_addc(&t.items, '{'))
		q->rc = POS_ERR_NOMEM;
	parse_or(&t);
	skip_space(&t);
	if (!t.bad && *t.p)
		t.bad = true;
	if (t.bad && !q->rc) {
		pos_error_log("store: keyword expression does not parse");
		q->rc = POS_ERR_INTERNAL;
	}
	if (!q->rc && pos_buf_addc(&t.items, '}'))
		q->rc = POS_ERR_NOMEM;
	if (!q->rc) {
		const char *v = pos_arena_strndup(q->a, t.items.data, t.items.len);
		if (!v)
			q->rc = POS_ERR_NOMEM;
		q->p.v[t.arr - 1] = v;
		q->p.len[t.arr - 1] = v ? (int)t.items.len : 0;
	}
	pos_buf_free(&t.items);
}

const char *pg_match_words(struct pos_arena *a, const char *match)
{
	struct pos_buf b;
	pos_buf_init(&b, (size_t)16 << 20);
	enum pos_err rc = POS_OK;
	for (const char *p = match; !rc && p && *p;) {
		if (*p != '"') {
			p++;
			continue;
		}
		if (b.len)
			rc = pos_buf_addc(&b, ' ');
		for (p++; !rc && *p; p++) {
			if (*p == '"') {
				if (p[1] != '"')
					break;
				p++;
			}
			rc = pos_buf_addc(&b, *p);
		}
		if (*p == '"')
			p++;
	}
	const char *r = rc ? NULL : pos_arena_strndup(a, b.len ? b.data : "", b.len);
	pos_buf_free(&b);
	return r;
}
