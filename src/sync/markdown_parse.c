/*
 * markdown_parse.c — front matter, inline #tags and [[wiki links]] of
 * Markdown notes (see markdown_parse.h). A line scanner over bytes; no
 * allocation.
 */
#include "sync/markdown_parse.h"

#include <string.h>

#include "base/clock.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Next line of d[*pos..len): sets *ls and *ln to it without CR/LF. */
static bool next_line(const char *d, size_t len, size_t *pos, const char **ls,
		      size_t *ln)
{
	if (*pos >= len)
		return false;
	const char *p = d + *pos;
	const char *nl = memchr(p, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - p) : len - *pos;
	*pos += nl ? n + 1 : n;
	if (n && p[n - 1] == '\r')
		n--;
	*ls = p;
	*ln = n;
	return true;
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s))
		(*s)++, (*n)--;
	while (*n && (is_space((*s)[*n - 1]) || (*s)[*n - 1] == '\r'))
		(*n)--;
}

static void unquote(const char **s, size_t *n)
{
	if (*n >= 2 && ((**s == '"' && (*s)[*n - 1] == '"') ||
			(**s == '\'' && (*s)[*n - 1] == '\''))) {
		(*s)++;
		*n -= 2;
		trim(s, n);
	}
}

static bool line_is_fence(const char *s, size_t n, const char *f)
{
	trim(&s, &n);
	return n == 3 && memcmp(s, f, 3) == 0;
}

static void add_tag(struct pos_mdp_note *o, const char *s, size_t n)
{
	trim(&s, &n);
	unquote(&s, &n);
	if (n && *s == '#')
		s++, n--;
	if (n == 0 || n > POS_MDP_MAX_TAG || o->n_tags >= POS_MDP_MAX_TAGS)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || c == ',' || c == '[' || c == ']' ||
		    c == '"' || c == '\'')
			return;
	}
	for (size_t i = 0; i < o->n_tags; i++)
		if (strlen(o->tags[i]) == n && memcmp(o->tags[i], s, n) == 0)
			return;
	memcpy(o->tags[o->n_tags], s, n);
	o->tags[o->n_tags][n] = '\0';
	o->n_tags++;
}

/* "a, b", "[a, b]", "a b" (Obsidian also allows spaces as separators). */
static void add_tag_list(struct pos_mdp_note *o, const char *s, size_t n)
{
	trim(&s, &n);
	if (n && *s == '[') {
		s++, n--;
		const char *close = memchr(s, ']', n);
		if (close)
			n = (size_t)(close - s);
	}
	size_t i = 0;
	while (i < n) {
		while (i < n && (s[i] == ',' || is_space(s[i])))
			i++;
		size_t st = i;
		char q = 0;
		if (i < n && (s[i] == '"' || s[i] == '\'')) {
			q = s[i++];
			while (i < n && s[i] != q)
				i++;
			if (i < n)
				i++;
		} else {
			while (i < n && s[i] != ',' && !is_space(s[i]))
				i++;
		}
		if (i > st)
			add_tag(o, s + st, i - st);
	}
}

static bool parse_date(const char *s, size_t n, int64_t *out)
{
	char buf[40];
	trim(&s, &n);
	unquote(&s, &n);
	if (pos_time_parse(s, n, true, out))
		return true;
	/* "2026-03-10 09:00" or "2026-03-10 09:00:30": local-less, read as UTC. */
	if ((n == 16 || n == 19) && n + 4 < sizeof(buf)) {
		memcpy(buf, s, n);
		size_t m = n;
		if (n == 16) {
			memcpy(buf + m, ":00", 3);
			m += 3;
		}
		buf[m++] = 'Z';
		return pos_time_parse(buf, m, false, out);
	}
	return false;
}

static bool key_is(const char *k, size_t kn, const char *lit)
{
	size_t l = strlen(lit);
	if (kn != l)
		return false;
	for (size_t i = 0; i < l; i++) {
		char c = k[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

void pos_mdp_front_matter(const char *data, size_t len, struct pos_mdp_note *o)
{
	size_t pos = 0, start;
	const char *l;
	size_t n;
	bool in_tags = false, has_created = false;
	int64_t created = 0;

	memset(o, 0, sizeof(*o));
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	if (!next_line(data, len, &pos, &l, &n) || !line_is_fence(l, n, "---"))
		return;
	start = pos;
	/* Find the closing fence first: no fence, no front matter. */
	size_t end = 0, scan = pos;
	bool closed = false;
	while (scan - start <= POS_MDP_MAX_FRONT &&
	       next_line(data, len, &scan, &l, &n)) {
		if (line_is_fence(l, n, "---") || line_is_fence(l, n, "...")) {
			closed = true;
			break;
		}
		end = scan;
	}
	if (!closed)
		return;
	if (end < start)
		end = start;
	o->body_off = scan;

	while (pos < end && next_line(data, end, &pos, &l, &n)) {
		const char *s = l;
		size_t m = n;
		trim(&s, &m);
		if (m == 0 || *s == '#')
			continue;
		if (in_tags && *s == '-' && (m == 1 || is_space(s[1]))) {
			add_tag(o, s + 1, m - 1);
			continue;
		}
		in_tags = false;
		if (is_space(*l))
			continue; /* nested value of a key we do not read */
		const char *colon = memchr(s, ':', m);
		if (!colon)
			continue;
		const char *k = s, *v = colon + 1;
		size_t kn = (size_t)(colon - s), vn = m - kn - 1;
		trim(&k, &kn);
		trim(&v, &vn);
		if (key_is(k, kn, "tags") || key_is(k, kn, "tag")) {
			if (vn == 0)
				in_tags = true;
			else
				add_tag_list(o, v, vn);
		} else if (key_is(k, kn, "date")) {
			o->has_date = parse_date(v, vn, &o->date_us) || o->has_date;
		} else if (key_is(k, kn, "created")) {
			has_created = parse_date(v, vn, &created) || has_created;
		} else if (key_is(k, kn, "title")) {
			unquote(&v, &vn);
			if (vn > POS_MDP_MAX_TITLE)
				vn = POS_MDP_MAX_TITLE;
			size_t w = 0;
			for (size_t i = 0; i < vn; i++)
				if ((unsigned char)v[i] >= ' ')
					o->title[w++] = v[i];
			o->title[w] = '\0';
		}
	}
	if (!o->has_date && has_created) {
		o->has_date = true;
		o->date_us = created;
	}
}

static bool tag_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '/' ||
	       c >= 0x80;
}

void pos_mdp_inline_tags(const char *data, size_t len, struct pos_mdp_note *o)
{
	size_t pos = 0;
	const char *l;
	size_t n;
	bool fenced = false;
	while (o->n_tags < POS_MDP_MAX_TAGS && next_line(data, len, &pos, &l, &n)) {
		const char *s = l;
		size_t m = n;
		trim(&s, &m);
		if (m >= 3 && (memcmp(s, "```", 3) == 0 || memcmp(s, "~~~", 3) == 0)) {
			fenced = !fenced;
			continue;
		}
		if (fenced)
			continue;
		bool code = false;
		for (size_t i = 0; i < n; i++) {
			if (l[i] == '`') {
				code = !code;
				continue;
			}
			if (code || l[i] != '#' || (i > 0 && !is_space(l[i - 1]) && l[i - 1] != '('))
				continue;
			size_t j = i + 1;
			bool alpha = false;
			while (j < n && tag_char((unsigned char)l[j])) {
				alpha |= !(l[j] >= '0' && l[j] <= '9');
				j++;
			}
			if (j > i + 1 && alpha)
				add_tag(o, l + i + 1, j - i - 1);
			i = j - 1;
		}
	}
}

void pos_mdp_links(const char *data, size_t len,
		   bool (*fn)(const char *target, size_t n, void *ud), void *ud)
{
	size_t found = 0;
	for (size_t i = 0; i + 1 < len && found < POS_MDP_MAX_LINKS; i++) {
		if (data[i] != '[' || data[i + 1] != '[')
			continue;
		size_t st = i + 2, j = st;
		while (j + 1 < len && !(data[j] == ']' && data[j + 1] == ']') &&
		       data[j] != '\n' && data[j] != '[' && j - st <= 2 * POS_MDP_MAX_LINK)
			j++;
		if (j + 1 >= len || data[j] != ']' || data[j + 1] != ']') {
			i = j > i + 1 ? j - 1 : i;
			continue;
		}
		const char *t = data + st;
		size_t tn = j - st;
		for (size_t k = 0; k < tn; k++)
			if (t[k] == '|' || t[k] == '#') {
				tn = k;
				break;
			}
		trim(&t, &tn);
		i = j + 1;
		if (tn == 0 || tn > POS_MDP_MAX_LINK || memchr(t, '\0', tn))
			continue;
		found++;
		if (!fn(t, tn, ud))
			return;
	}
}
