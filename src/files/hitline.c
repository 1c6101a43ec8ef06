/*
 * hitline.c — the attachment, page and line a search hit matched in
 * (files/hitline.h).
 */
#include "files/hitline.h"

#include <jansson.h>
#include <string.h>

#include "search/query.h"

enum { NEEDLE_WORD, NEEDLE_TYPED, NEEDLE_PHRASE };

static bool word_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c >= 0x80;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* The length of a word's stem: a common English ending taken off (ASCII
 * case ignored), so "budgets", "migrating" and "migration" compare equal
 * to "budget", "migrate". At least three bytes stay. */
static size_t stem_len(const char *w, size_t n)
{
	static const char *const endings[] = {"ings", "ing", "ions", "ion", "ies", "ied",
					      "ed", "es", "s", "e", "y"};
	for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
		size_t el = strlen(endings[i]);
		if (n < el + 3)
			continue;
		size_t k = 0;
		while (k < el && lower((unsigned char)w[n - el + k]) == (unsigned char)endings[i][k])
			k++;
		if (k == el)
			return n - el;
	}
	return n;
}

/* Whether two words are forms of one another (same stem, ASCII case ignored). */
static bool same_stem(const char *x, size_t xn, const char *y, size_t yn)
{
	size_t a = stem_len(x, xn), b = stem_len(y, yn);
	if (a != b)
		return false;
	for (size_t i = 0; i < a; i++)
		if (lower((unsigned char)x[i]) != lower((unsigned char)y[i]))
			return false;
	return true;
}

enum pos_err pos_hitline_prepare(struct pos_arena *a, const char *q, size_t len, bool typing,
				 struct pos_hitline_needles *out)
{
	memset(out, 0, sizeof(*out));
	out->budget = POS_HITLINE_BUDGET;
	struct pos_query pq;
	struct pos_error err;
	pos_error_clear(&err);
	if (!q || pos_query_parse_ex(a, q, len, typing ? POS_QUERY_TYPING : 0, &pq, &err))
		return POS_OK; /* the search itself says what is wrong */
	size_t cap = pq.n_terms + pq.n_phrases;
	if (!cap)
		return POS_OK;
	out->s = pos_arena_alloc(a, cap * sizeof(*out->s));
	out->len = pos_arena_alloc(a, cap * sizeof(*out->len));
	out->kind = pos_arena_alloc(a, cap);
	if (!out->s || !out->len || !out->kind) {
		out->s = NULL;
		out->len = NULL;
		out->kind = NULL;
		return POS_ERR_NOMEM;
	}
	for (size_t i = 0; i < pq.n_phrases; i++) {
		/* from its first to its last letter or digit ("$100." is 100) */
		const char *t = pq.phrases[i];
		size_t s = 0, e = strlen(t);
		while (s < e && !word_byte((unsigned char)t[s]))
			s++;
		while (e > s && !word_byte((unsigned char)t[e - 1]))
			e--;
		if (e == s)
			continue;
		out->s[out->n] = t + s;
		out->len[out->n] = e - s;
		out->kind[out->n++] = NEEDLE_PHRASE;
	}
	/* stop words only when there is nothing else, as the search does */
	size_t plain = 0;
	for (size_t i = 0; i < pq.n_terms; i++) {
		const char *t = pq.terms[i];
		bool typed = pq.prefix && strcmp(pq.prefix, t) == 0;
		if (pos_query_has_token(t, strlen(t)) && (typed || !pos_query_is_stopword(t, strlen(t))))
			plain++;
	}
	for (size_t i = 0; i < pq.n_terms; i++) {
		const char *t = pq.terms[i];
		size_t n = strlen(t);
		bool typed = pq.prefix && strcmp(pq.prefix, t) == 0;
		if (!pos_query_has_token(t, n))
			continue;
		if (!typed && (plain || out->n) && pos_query_is_stopword(t, n))
			continue;
		/* a word is matched by its letters and digits only ("budget," is budget) */
		size_t s = 0;
		while (s < n && !word_byte((unsigned char)t[s]))
			s++;
		size_t e = n;
		while (e > s && !word_byte((unsigned char)t[e - 1]))
			e--;
		if (e == s)
			continue;
		/* "report.pdf" is the phrase "report pdf" to FTS5: so here */
		bool inner = false;
		for (size_t k = s; k < e && !inner; k++)
			inner = !word_byte((unsigned char)t[k]);
		out->s[out->n] = t + s;
		out->len[out->n] = e - s;
		out->kind[out->n++] = typed ? NEEDLE_TYPED : inner ? NEEDLE_PHRASE : NEEDLE_WORD;
	}
	for (size_t i = 0; i < out->n; i++)
		out->first[(unsigned char)out->s[i][0]] = 1;
	return POS_OK;
}

/* The end of the word running on from p (exclusive). */
static size_t word_end(const char *s, size_t p, size_t end)
{
	while (p < end && word_byte((unsigned char)s[p]))
		p++;
	return p;
}

/*
 * Whether needle i matches the text at s[p] (a word start); the matched
 * span's end in *mend. A word matches a word of the same stem; the word
 * being typed any word it starts; a phrase its words in order across runs
 * of space and punctuation, the last one of the same stem.
 */
static bool needle_at(const struct pos_hitline_needles *nd, size_t i, const char *s, size_t p,
		      size_t end, size_t *mend)
{
	const char *n = nd->s[i];
	size_t nl = nd->len[i];
	if (nd->kind[i] == NEEDLE_WORD) {
		size_t we = word_end(s, p, end);
		if (!same_stem(s + p, we - p, n, nl))
			return false;
		*mend = we;
		return true;
	}
	size_t j = 0, last_w = 0, last_p = p;
	while (j < nl) {
		unsigned char c = (unsigned char)n[j];
		if (!word_byte(c)) {
			/* space or punctuation in a phrase: any run of them */
			while (j < nl && !word_byte((unsigned char)n[j]))
				j++;
			if (p >= end || word_byte((unsigned char)s[p]))
				return false;
			while (p < end && !word_byte((unsigned char)s[p]))
				p++;
			last_w = j;
			last_p = p;
			continue;
		}
		if (p >= end || lower((unsigned char)s[p]) != c)
			return false;
		p++;
		j++;
	}
	size_t we = word_end(s, p, end);
	if (we > p && nd->kind[i] == NEEDLE_PHRASE &&
	    !same_stem(s + last_p, we - last_p, n + last_w, nl - last_w))
		return false;
	*mend = we;
	return true;
}

/* Scores the line s[b..e): distinct needles found (a phrase counts two). */
static unsigned score_line(const struct pos_hitline_needles *nd, const char *s, size_t b, size_t e,
			   unsigned char *seen)
{
	memset(seen, 0, nd->n);
	unsigned score = 0;
	for (size_t p = b; p < e; p++) {
		if (!word_byte((unsigned char)s[p]) || (p > b && word_byte((unsigned char)s[p - 1])))
			continue;
		unsigned char c = lower((unsigned char)s[p]);
		if (!nd->first[c])
			continue;
		for (size_t i = 0; i < nd->n; i++) {
			size_t me;
			if (seen[i] || (unsigned char)nd->s[i][0] != c || !needle_at(nd, i, s, p, e, &me))
				continue;
			seen[i] = 1;
			score += nd->kind[i] == NEEDLE_PHRASE ? 2 : 1;
		}
	}
	return score;
}

/* "[page N]" alone on the line s[b..e): N, else 0. */
static unsigned page_marker(const char *s, size_t b, size_t e)
{
	if (e - b < 8 || memcmp(s + b, "[page ", 6) != 0 || s[e - 1] != ']')
		return 0;
	unsigned n = 0;
	for (size_t p = b + 6; p < e - 1; p++) {
		if (s[p] < '0' || s[p] > '9' || n > 1000000)
			return 0;
		n = n * 10 + (unsigned)(s[p] - '0');
	}
	return n;
}

struct best {
	unsigned score;
	size_t b, e;          /* the line */
	unsigned page;
	const char *name;     /* the attachment's name (arena) */
	bool file_memory;
};

/* The best line of the text s[b..e) of the attachment `name`. */
static void scan_region(struct pos_arena *a, const struct pos_hitline_needles *nd, const char *s,
			size_t b, size_t e, const char *name, size_t name_len, bool file_memory,
			unsigned char *seen, struct best *best)
{
	unsigned page = 0;
	for (size_t p = b; p < e;) {
		const char *nl = memchr(s + p, '\n', e - p);
		size_t le = nl ? (size_t)(nl - s) : e;
		unsigned pg = page_marker(s, p, le);
		if (pg) {
			page = pg;
		} else if (le > p) {
			unsigned sc = score_line(nd, s, p, le, seen);
			if (sc > best->score) {
				char *nm = pos_arena_strndup(a, name, name_len);
				if (nm) {
					best->score = sc;
					best->b = p;
					best->e = le;
					best->page = page;
					best->name = nm;
					best->file_memory = file_memory;
				}
			}
		}
		p = le + 1;
	}
}

/* The attachment of that name in the memory's list (the newest of equals;
 * for a file memory the first one when none has the name). */
static bool find_attachment(struct pos_arena *a, const char *list_json, const char *name,
			    bool file_memory, const char **id, const char **mime)
{
	struct pos_error err;
	json_t *list = pos_json_parse(list_json, strlen(list_json), &err);
	if (!json_is_array(list)) {
		json_decref(list);
		return false;
	}
	json_t *found = NULL;
	size_t i;
	json_t *at;
	json_array_foreach(list, i, at) {
		const char *n = json_string_value(json_object_get(at, "name"));
		if (!json_is_string(json_object_get(at, "id")))
			continue;
		if (n && strcmp(n, name) == 0)
			found = at;
		else if (!found && file_memory && i == 0)
			found = at;
	}
	bool ok = false;
	if (found) {
		*id = pos_arena_strdup(a, json_string_value(json_object_get(found, "id")));
		const char *mt = json_string_value(json_object_get(found, "mime"));
		*mime = pos_arena_strdup(a, mt ? mt : "");
		ok = *id && *mime;
	}
	json_decref(list);
	return ok;
}

static size_t cp_count(const char *s, size_t b, size_t e)
{
	size_t n = 0;
	for (size_t p = b; p < e; p++)
		n += ((unsigned char)s[p] & 0xC0) != 0x80;
	return n;
}

/* The byte offset of code point `cp` of s[b..e). */
static size_t cp_byte(const char *s, size_t b, size_t e, size_t cp)
{
	size_t n = 0, p = b;
	for (; p < e; p++) {
		if (((unsigned char)s[p] & 0xC0) != 0x80) {
			if (n == cp)
				return p;
			n++;
		}
	}
	return e;
}

static bool space_byte(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Fills out->line and out->marks from the line s[b..e). */
static bool render_line(struct pos_arena *a, const struct pos_hitline_needles *nd, const char *s,
			size_t b, size_t e, struct pos_hitline *out)
{
	while (b < e && space_byte(s[b]))
		b++;
	while (e > b && space_byte(s[e - 1]))
		e--;
	/* the marks, in bytes, in order, not overlapping */
	size_t mb[POS_HITLINE_MARKS], me[POS_HITLINE_MARKS], nm = 0;
	for (size_t p = b; p < e && nm < POS_HITLINE_MARKS;) {
		if (!word_byte((unsigned char)s[p]) || (p > b && word_byte((unsigned char)s[p - 1]))) {
			p++;
			continue;
		}
		size_t best_end = 0;
		for (size_t i = 0; i < nd->n; i++) {
			size_t end;
			if (needle_at(nd, i, s, p, e, &end) && end > best_end)
				best_end = end;
		}
		if (best_end) {
			mb[nm] = p;
			me[nm++] = best_end;
			p = best_end;
		} else {
			p++;
		}
	}
	size_t total = cp_count(s, b, e);
	size_t from = 0, to = total; /* code points of the line kept */
	if (total > POS_HITLINE_CHARS) {
		size_t first = nm ? cp_count(s, b, mb[0]) : 0;
		size_t room = POS_HITLINE_CHARS - 2; /* an ellipsis each side */
		from = first > 40 ? first - 40 : 0;
		if (from + room > total)
			from = total - room;
		/* not in the middle of a word when a space comes soon */
		size_t fb = cp_byte(s, b, e, from), nb = fb;
		size_t lim = nm && mb[0] < fb + 16 ? mb[0] : fb + 16;
		if (lim > e)
			lim = e;
		if (from && word_byte((unsigned char)s[fb - 1])) {
			while (nb < lim && word_byte((unsigned char)s[nb]))
				nb++;
			while (nb < lim && !word_byte((unsigned char)s[nb]))
				nb++;
			if (nb < lim || (nm && nb == mb[0]))
				from = cp_count(s, b, nb);
		}
		to = from + room < total ? from + room : total;
	}
	size_t fb = cp_byte(s, b, e, from), tb = cp_byte(s, b, e, to);
	bool pre = from > 0, post = to < total;
	size_t len = (pre ? 3 : 0) + (tb - fb) + (post ? 3 : 0);
	char *line = pos_arena_alloc(a, len + 1);
	if (!line)
		return false;
	size_t o = 0;
	if (pre) {
		memcpy(line, "\xE2\x80\xA6", 3);
		o = 3;
	}
	memcpy(line + o, s + fb, tb - fb);
	o += tb - fb;
	if (post) {
		memcpy(line + o, "\xE2\x80\xA6", 3);
		o += 3;
	}
	line[o] = '\0';
	out->line = line;
	out->n_marks = 0;
	for (size_t i = 0; i < nm; i++) {
		if (me[i] <= fb || mb[i] >= tb)
			continue;
		size_t ms = mb[i] < fb ? fb : mb[i], mend = me[i] > tb ? tb : me[i];
		size_t shift = pre ? 1 : 0;
		out->marks[out->n_marks].start = cp_count(s, fb, ms) + shift;
		out->marks[out->n_marks].end = cp_count(s, fb, mend) + shift;
		out->n_marks++;
	}
	return true;
}

bool pos_hitline_find(struct pos_arena *a, struct pos_hitline_needles *nd,
		      const struct pos_memory *m, struct pos_hitline *out)
{
	memset(out, 0, sizeof(*out));
	if (!nd->n || !m->content || !m->attachments_json)
		return false;
	const char *aj = m->attachments_json;
	while (*aj == ' ' || *aj == '[' || *aj == '\n')
		aj++;
	if (*aj != '{') /* no attachments */
		return false;
	if (m->content_len > nd->budget) {
		nd->budget = 0; /* this search has read enough */
		return false;
	}
	nd->budget -= m->content_len;
	unsigned char *seen = pos_arena_alloc(a, nd->n);
	if (!seen)
		return false;
	const char *s = m->content;
	size_t len = m->content_len;
	struct best best = {0};
	if (m->type == POS_TYPE_FILE) {
		/* the name line, a blank line, the text */
		const char *nl = memchr(s, '\n', len);
		size_t name_len = nl ? (size_t)(nl - s) : len;
		if (nl)
			scan_region(a, nd, s, name_len + 1, len, s, name_len, true, seen, &best);
	}
	static const char head[] = "\n\n[file: ";
	size_t hl = sizeof(head) - 1;
	for (size_t p = 0; m->type != POS_TYPE_FILE && p + hl <= len;) {
		const char *h = memmem(s + p, len - p, head, hl);
		if (!h)
			break;
		size_t nb = (size_t)(h - s) + hl;
		const char *nl = memchr(s + nb, '\n', len - nb);
		if (!nl || nl == s + nb || nl[-1] != ']') {
			p = nb;
			continue;
		}
		size_t ne = (size_t)(nl - s) - 1, tb = ne + 2;
		const char *next = memmem(s + tb, len - tb, head, hl);
		size_t te = next ? (size_t)(next - s) : len;
		scan_region(a, nd, s, tb, te, s + nb, ne - nb, false, seen, &best);
		p = te;
	}
	if (!best.score)
		return false;
	const char *mime = NULL;
	if (!find_attachment(a, m->attachments_json, best.name, best.file_memory,
			     &out->attachment_id, &mime))
		return false;
	out->name = best.name;
	/* a one-page PDF has no markers but is still page 1 */
	out->page = best.page ? best.page : strcmp(mime, "application/pdf") == 0 ? 1 : 0;
	return render_line(a, nd, s, best.b, best.e, out);
}

void pos_hitline_json(struct pos_jw *w, const struct pos_hitline *h)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "attachment_id", h->attachment_id);
	pos_jw_kstr(w, "name", h->name);
	pos_jw_key(w, "page");
	if (h->page)
		pos_jw_int(w, h->page);
	else
		pos_jw_null(w);
	pos_jw_kstr(w, "line", h->line);
	pos_jw_key(w, "marks");
	pos_jw_arr(w);
	for (size_t i = 0; i < h->n_marks; i++) {
		pos_jw_arr(w);
		pos_jw_int(w, (int64_t)h->marks[i].start);
		pos_jw_int(w, (int64_t)h->marks[i].end);
		pos_jw_arr_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
}
