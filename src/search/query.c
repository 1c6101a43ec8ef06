/*
 * query.c — the search query parser and the FTS5 MATCH builder.
 *
 * The parser walks the query once, token by token, over input already
 * checked to be valid UTF-8 and at most POS_QUERY_MAX_BYTES long, so every
 * size here is bounded by the input. The MATCH builder quotes every item as
 * an FTS5 string; it never copies user text into FTS5 syntax unquoted.
 */
#include "search/query.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "store/store.h"

/* ---- UTF-8 and character classes ---------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at s[0..n) (n >= 1), storing its
 * code point in *cp; 0 when the bytes are not well-formed (stray
 * continuation, truncation, overlong form, surrogate, past U+10FFFF).
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], v, min;
	size_t len;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, v = c & 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* Token separators of the query language (see pos_query_parse). */
static bool is_space(uint32_t c)
{
	return c <= 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200B) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

/*
 * Code points FTS5's unicode61 tokenizer treats as separators (its tables
 * are Unicode 6.1). A subset: ASCII and Latin-1 exactly, then the blocks
 * people actually type — punctuation, currency, arrows, maths, shapes,
 * dingbats, CJK and full-width punctuation, emoji of Unicode 6.1. Every range
 * is checked against the real tokenizer by tests/unit/test_query.c; a
 * separator missing here only costs an item that matches nothing.
 */
static const struct {
	uint32_t lo, hi;
} fts_separators[] = {
	{0x0000, 0x002F}, {0x003A, 0x0040}, {0x005B, 0x0060}, {0x007B, 0x00A9},
	{0x00AB, 0x00B1}, {0x00B4, 0x00B4}, {0x00B6, 0x00B8}, {0x00BB, 0x00BB},
	{0x00BF, 0x00BF}, {0x00D7, 0x00D7}, {0x00F7, 0x00F7},
	{0x2000, 0x2064}, {0x206A, 0x206F}, {0x20A0, 0x20B9}, {0x2190, 0x23F3},
	{0x2400, 0x2426}, {0x2500, 0x26FF}, {0x2701, 0x2775}, {0x2794, 0x2B4C},
	{0x2B50, 0x2B59}, {0x2E00, 0x2E2E}, {0x3000, 0x3004}, {0x3008, 0x3020},
	{0x3030, 0x3030}, {0x303D, 0x303F}, {0x30FB, 0x30FB},
	{0xFE00, 0xFE19}, {0xFE30, 0xFE52}, {0xFE54, 0xFE66}, {0xFE68, 0xFE6B},
	{0xFEFF, 0xFEFF}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40},
	{0xFF5B, 0xFF65}, {0xFFE0, 0xFFE6}, {0xFFE8, 0xFFEE},
	{0x1F1E6, 0x1F1FF}, {0x1F300, 0x1F320}, {0x1F330, 0x1F335},
	{0x1F337, 0x1F37C}, {0x1F380, 0x1F393}, {0x1F3A0, 0x1F3C4},
	{0x1F3C6, 0x1F3CA}, {0x1F3E0, 0x1F3F0}, {0x1F400, 0x1F43E},
	{0x1F440, 0x1F440}, {0x1F442, 0x1F4F7}, {0x1F4F9, 0x1F4FC},
	{0x1F500, 0x1F53D}, {0x1F540, 0x1F543}, {0x1F550, 0x1F567},
	{0x1F5FB, 0x1F640}, {0x1F645, 0x1F64F}, {0x1F680, 0x1F6C5},
};

static bool is_fts_separator(uint32_t c)
{
	size_t lo = 0, hi = sizeof(fts_separators) / sizeof(fts_separators[0]);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c < fts_separators[mid].lo)
			hi = mid;
		else if (c > fts_separators[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool pos_query_has_token(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_decode(u + i, n - i, &cp);
		if (!k || !is_fts_separator(cp))
			return true;
		i += k;
	}
	return false;
}

/* ---- stop words --------------------------------------------------------- */

/* Sorted (the unit test checks): looked up by binary search. */
static const char *const stopwords[] = {
	"a", "about", "above", "after", "again", "against", "all", "am", "an",
	"and", "any", "are", "aren", "as", "at", "be", "because", "been", "before",
	"being", "below", "between", "both", "but", "by", "can", "could", "couldn",
	"d", "did", "didn", "do", "does", "doesn", "doing", "don", "down", "during",
	"each", "few", "for", "from", "further", "had", "hadn", "has", "hasn",
	"have", "haven", "having", "he", "her", "here", "hers", "herself", "him",
	"himself", "his", "how", "i", "if", "in", "into", "is", "isn", "it", "its",
	"itself", "just", "ll", "m", "me", "might", "mightn", "more", "most",
	"must", "mustn", "my", "myself", "needn", "no", "nor", "not", "now", "of",
	"off", "on", "once", "only", "or", "other", "our", "ours", "ourselves",
	"out", "over", "own", "re", "s", "same", "shall", "shan", "she", "should",
	"shouldn", "so", "some", "such", "t", "than", "that", "the", "their",
	"theirs", "them", "themselves", "then", "there", "these", "they", "this",
	"those", "through", "to", "too", "under", "until", "up", "ve", "very",
	"was", "wasn", "we", "were", "weren", "what", "when", "where", "which",
	"while", "who", "whom", "whose", "why", "will", "with", "would", "wouldn",
	"you", "your", "yours", "yourself", "yourselves",
};

#define STOPWORD_MAX_LEN 10 /* "yourselves" */

bool pos_query_is_stopword(const char *w, size_t n)
{
	char low[STOPWORD_MAX_LEN + 1];
	if (n == 0 || n > STOPWORD_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c == 0 || c >= 0x80)
			return false;
		low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
	}
	low[n] = '\0';
	size_t lo = 0, hi = sizeof(stopwords) / sizeof(stopwords[0]);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(low, stopwords[mid]);
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/*
 * True when s has at least one run of token characters and every run is a
 * stop word: "What's" (what, s) is; "what-if" (what, if) is; "whatever" and
 * "café" are not.
 */
bool pos_query_only_stopwords(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t runs = 0, start = 0;
	bool in_run = false;
	for (size_t i = 0; i <= n;) {
		uint32_t cp = ' ';
		size_t k = 1;
		if (i < n && !(k = utf8_decode(u + i, n - i, &cp)))
			return false;
		bool sep = i == n || is_fts_separator(cp);
		if (!sep && !in_run) {
			in_run = true;
			start = i;
		} else if (sep && in_run) {
			in_run = false;
			if (!pos_query_is_stopword(s + start, i - start))
				return false;
			runs++;
		}
		i += k;
	}
	return runs > 0;
}

/* ---- the parser ---------------------------------------------------------- */

enum item_kind { ITEM_TERM, ITEM_PHRASE, ITEM_EXCLUDED };

enum filter_key { F_TYPE, F_LAYER, F_TAG, F_SOURCE, F_AFTER, F_BEFORE };

static const char *const filter_names[] = {
	[F_TYPE] = "type", [F_LAYER] = "layer", [F_TAG] = "tag",
	[F_SOURCE] = "source", [F_AFTER] = "after", [F_BEFORE] = "before",
};

struct parser {
	struct pos_arena *a;
	const char *s;
	size_t n;
	struct pos_query *q;
	struct pos_error *err;
	char *text;      /* q->text, being built; capacity n + 1 */
	size_t text_len;
	unsigned flags;  /* POS_QUERY_TYPING */
	const char *last_term; /* the term the last token made, or NULL */
};

/* Byte length of the white-space character at s[i], or 0 for another one. */
static size_t space_at(const struct parser *p, size_t i)
{
	uint32_t cp;
	size_t k = utf8_decode((const unsigned char *)p->s + i, p->n - i, &cp);
	return k && is_space(cp) ? k : 0;
}

/* Byte length of the character at s[i] (1 for a malformed byte). */
static size_t char_at(const struct parser *p, size_t i)
{
	uint32_t cp;
	size_t k = utf8_decode((const unsigned char *)p->s + i, p->n - i, &cp);
	return k ? k : 1;
}

/* Index of the first white space at or after i, or n. */
static size_t word_end(const struct parser *p, size_t i)
{
	while (i < p->n && !space_at(p, i))
		i += char_at(p, i);
	return i;
}

/*
 * Bytes of s[0..n) that fit in `max` without splitting a UTF-8 sequence:
 * error messages quote user text and must stay valid UTF-8 for JSON.
 */
static int clip(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return (int)n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return (int)max;
}

/*
 * Copies s[0..n) into the arena with white-space runs made one space and
 * trimmed, ASCII-lower-cased when `lower`. *out_len gets the length (0 when
 * s was all white space).
 */
static char *normalize(struct parser *p, const char *s, size_t n, bool lower,
		       size_t *out_len)
{
	char *d = pos_arena_alloc(p->a, n + 1);
	if (!d)
		return NULL;
	size_t len = 0;
	bool pending_space = false;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (!k) { /* cannot happen: the query was validated */
			k = 1;
			cp = 0xFFFD;
		}
		if (is_space(cp)) {
			pending_space = len > 0;
			i += k;
			continue;
		}
		if (pending_space) {
			d[len++] = ' ';
			pending_space = false;
		}
		for (size_t j = 0; j < k; j++) {
			char c = s[i + j];
			d[len++] = lower && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		i += k;
	}
	d[len] = '\0';
	*out_len = len;
	return d;
}

static bool list_has(const char **l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

/* Appends the item as typed to q->text. */
static enum pos_err text_add(struct parser *p, const char *s, size_t n)
{
	size_t len;
	char *t = normalize(p, s, n, false, &len);
	if (!t)
		return POS_ERR_NOMEM;
	if (!len)
		return POS_OK;
	/* Each item is separated from the previous one in the input by at
	 * least one byte (space or quote), so text never outgrows the input. */
	if (p->text_len + (p->text_len > 0) + len > p->n)
		return POS_ERR_INTERNAL;
	if (p->text_len)
		p->text[p->text_len++] = ' ';
	memcpy(p->text + p->text_len, t, len);
	p->text_len += len;
	p->text[p->text_len] = '\0';
	return POS_OK;
}

static enum pos_err add_item(struct parser *p, enum item_kind kind,
			     const char *s, size_t n)
{
	struct pos_query *q = p->q;
	size_t len;
	char *v = normalize(p, s, n, true, &len);
	if (!v)
		return POS_ERR_NOMEM;
	if (!len)
		return POS_OK; /* "" or "   " */
	if (kind == ITEM_EXCLUDED) {
		if (!list_has(q->excluded, q->n_excluded, v) &&
		    q->n_excluded < POS_QUERY_MAX_ITEMS)
			q->excluded[q->n_excluded++] = v;
		return POS_OK;
	}
	const char **list = kind == ITEM_TERM ? q->terms : q->phrases;
	size_t *count = kind == ITEM_TERM ? &q->n_terms : &q->n_phrases;
	size_t at;
	for (at = 0; at < *count && strcmp(list[at], v) != 0; at++)
		;
	if (at == *count) {
		if (q->n_terms + q->n_phrases >= POS_QUERY_MAX_ITEMS)
			return POS_OK; /* over the limit: ignored, also in text */
		list[(*count)++] = v;
	}
	if (kind == ITEM_TERM)
		p->last_term = list[at];
	return text_add(p, s, n);
}

static int filter_lookup(const char *s, size_t n)
{
	for (size_t k = 0; k < sizeof(filter_names) / sizeof(filter_names[0]); k++)
		if (strlen(filter_names[k]) == n && strncasecmp(s, filter_names[k], n) == 0)
			return (int)k;
	return -1;
}

/* type: and layer: values: API names, any case. */
static enum pos_err filter_enum(struct parser *p, enum filter_key key,
				const char *v, size_t n)
{
	char low[32];
	int val = -1;
	if (n < sizeof(low)) {
		for (size_t i = 0; i < n; i++)
			low[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
		low[n] = '\0';
		val = key == F_TYPE ? pos_mem_type_parse(low) : pos_mem_layer_parse(low);
	}
	const char *name = filter_names[key];
	if (val < 0) {
		char names[128];
		size_t used = 0;
		int count = key == F_TYPE ? POS_TYPE__COUNT : POS_LAYER__COUNT;
		for (int i = 0; i < count && used < sizeof(names); i++) {
			const char *nm = key == F_TYPE ? pos_mem_type_name((enum pos_mem_type)i)
						       : pos_mem_layer_name((enum pos_mem_layer)i);
			int w = snprintf(names + used, sizeof(names) - used, "%s%s",
					 i ? ", " : "", nm);
			if (w > 0)
				used += (size_t)w;
		}
		return pos_error_set(p->err, POS_ERR_INVALID_FIELD, name,
				     "unknown %s \"%.*s\" (expected one of: %s)", name,
				     clip(v, n, 40), v, names);
	}
	int *slot = key == F_TYPE ? &p->q->type : &p->q->layer;
	if (*slot >= 0 && *slot != val)
		return pos_error_set(p->err, POS_ERR_INVALID_FIELD, name,
				     "%s is given twice with different values", name);
	*slot = val;
	return POS_OK;
}

static enum pos_err apply_filter(struct parser *p, enum filter_key key,
				 const char *v, size_t n)
{
	struct pos_query *q = p->q;
	const char *name = filter_names[key];
	int64_t t;
	char *s;
	switch (key) {
	case F_TYPE:
	case F_LAYER:
		return filter_enum(p, key, v, n);
	case F_TAG:
		if (!(s = pos_arena_strndup(p->a, v, n)))
			return POS_ERR_NOMEM;
		if (list_has(q->tags, q->n_tags, s))
			return POS_OK;
		if (q->n_tags >= POS_QUERY_MAX_TAGS)
			return pos_error_set(p->err, POS_ERR_INVALID_FIELD, name,
					     "at most %d tag: filters", POS_QUERY_MAX_TAGS);
		q->tags[q->n_tags++] = s;
		return POS_OK;
	case F_SOURCE:
		if (!(s = pos_arena_strndup(p->a, v, n)))
			return POS_ERR_NOMEM;
		if (q->source && strcmp(q->source, s) != 0)
			return pos_error_set(p->err, POS_ERR_INVALID_FIELD, name,
					     "source is given twice with different values");
		q->source = s;
		return POS_OK;
	case F_AFTER:
	case F_BEFORE:
		if (!pos_time_parse(v, n, true, &t))
			return pos_error_set(p->err, POS_ERR_INVALID_FIELD, name,
					     "%s: \"%.*s\" is not a date (2026-01-31) or an RFC 3339 time (2026-01-31T09:30:00Z)",
					     name, clip(v, n, 40), v);
		if (key == F_AFTER && (q->after == POS_TIME_NONE || t > q->after))
			q->after = t;
		if (key == F_BEFORE && (q->before == POS_TIME_NONE || t < q->before))
			q->before = t;
		return POS_OK;
	}
	return POS_ERR_INTERNAL;
}

/*
 * A filter as typed: with POS_QUERY_TYPING, one whose value is not (yet)
 * valid — `after:2026-1`, `type:no`, a repeat that conflicts, a negation —
 * is left out and listed in q->ignored instead of failing the query.
 */
static enum pos_err typed_filter(struct parser *p, enum filter_key key, bool neg,
				 const char *tok, size_t tok_len, const char *v, size_t n)
{
	enum pos_err rc;
	if (neg)
		rc = pos_error_set(p->err, POS_ERR_INVALID_FIELD, filter_names[key],
				   "a %s: filter cannot be negated", filter_names[key]);
	else
		rc = apply_filter(p, key, v, n);
	if (rc != POS_ERR_INVALID_FIELD || !(p->flags & POS_QUERY_TYPING))
		return rc;
	pos_error_clear(p->err);
	struct pos_query *q = p->q;
	if (q->n_ignored >= POS_QUERY_MAX_TAGS)
		return POS_OK;
	char *s = pos_arena_strndup(p->a, tok, tok_len);
	if (!s)
		return POS_ERR_NOMEM;
	q->ignored[q->n_ignored++] = s;
	return POS_OK;
}

/* Trims white space off both ends of s[*start .. *start + *len). */
static void trim(const struct parser *p, size_t *start, size_t *len)
{
	size_t i = *start, end = *start + *len, first = end, last = end;
	while (i < end) {
		size_t k = space_at(p, i);
		if (k) {
			i += k;
			continue;
		}
		if (first == end)
			first = i;
		i += char_at(p, i);
		last = i;
	}
	*start = first;
	*len = first == end ? 0 : last - first;
}

/*
 * The token at p->s[*pos] (not white space): a filter, a phrase, an
 * exclusion or a word. Advances *pos past it.
 */
static enum pos_err parse_token(struct parser *p, size_t *pos)
{
	const char *s = p->s;
	size_t n = p->n, i = *pos;
	bool neg = false;

	if (s[i] == '-') {
		size_t j = i;
		while (j < n && s[j] == '-')
			j++;
		if (j == n || space_at(p, j)) {
			*pos = j; /* dashes alone: dropped */
			return POS_OK;
		}
		neg = true;
		i++;
	}
	if (s[i] == '"') {
		const char *close = memchr(s + i + 1, '"', n - i - 1);
		if (close) {
			*pos = (size_t)(close - s) + 1;
			p->last_term = NULL;
			return add_item(p, neg ? ITEM_EXCLUDED : ITEM_PHRASE, s + i + 1,
					(size_t)(close - s) - i - 1);
		}
		/* Unbalanced: the quote is ignored. A dash before it still
		 * applies to the word after it. */
		i++;
		if (!neg || i == n || space_at(p, i)) {
			*pos = i;
			return POS_OK;
		}
	}

	size_t end = word_end(p, i);
	const char *colon = memchr(s + i, ':', end - i);
	int key = colon && colon > s + i ? filter_lookup(s + i, (size_t)(colon - s) - i) : -1;
	if (key >= 0) {
		size_t v = (size_t)(colon - s) + 1, vlen, next = end;
		const char *close = NULL;
		if (v < end && s[v] == '"')
			close = memchr(s + v + 1, '"', n - v - 1);
		if (close) { /* quoted: may span white space */
			v++;
			vlen = (size_t)(close - s) - v;
			next = (size_t)(close - s) + 1;
			trim(p, &v, &vlen);
			if (!vlen) { /* key:"": no filter, no text */
				*pos = next;
				return POS_OK;
			}
		} else if (v < end && s[v] == '"') { /* unbalanced: quote ignored */
			v++;
			vlen = end - v;
		} else {
			vlen = end - v;
		}
		if (vlen) {
			*pos = next;
			p->last_term = NULL;
			size_t from = neg ? i - 1 : i;
			return typed_filter(p, (enum filter_key)key, neg, s + from, next - from,
					    s + v, vlen);
		}
		/* key: with nothing after the colon: an ordinary word */
	}
	*pos = end;
	p->last_term = NULL;
	return add_item(p, neg ? ITEM_EXCLUDED : ITEM_TERM, s + i, end - i);
}

static void query_reset(struct pos_query *q)
{
	*q = (struct pos_query){
		.text = "",
		.type = -1,
		.layer = -1,
		.after = POS_TIME_NONE,
		.before = POS_TIME_NONE,
	};
}

enum pos_err pos_query_parse(struct pos_arena *a, const char *q, size_t len,
			     struct pos_query *out, struct pos_error *err)
{
	return pos_query_parse_ex(a, q, len, 0, out, err);
}

enum pos_err pos_query_parse_ex(struct pos_arena *a, const char *q, size_t len,
				unsigned flags, struct pos_query *out,
				struct pos_error *err)
{
	enum pos_err rc;
	query_reset(out);
	if (len > POS_QUERY_MAX_BYTES)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "query",
				     "the query must be at most %d bytes",
				     POS_QUERY_MAX_BYTES);
	bool blank = true;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)q + i, len - i, &cp);
		if (!k)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "query",
					     "the query is not valid UTF-8 (byte %zu)", i);
		if (!is_space(cp))
			blank = false;
		i += k;
	}
	if (blank)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "query",
				     "the query is empty");

	struct parser p = {.a = a, .s = q, .n = len, .q = out, .err = err, .flags = flags};
	out->terms = pos_arena_alloc(a, POS_QUERY_MAX_ITEMS * sizeof(char *));
	out->phrases = pos_arena_alloc(a, POS_QUERY_MAX_ITEMS * sizeof(char *));
	out->excluded = pos_arena_alloc(a, POS_QUERY_MAX_ITEMS * sizeof(char *));
	out->tags = pos_arena_alloc(a, POS_QUERY_MAX_TAGS * sizeof(char *));
	out->ignored = pos_arena_alloc(a, POS_QUERY_MAX_TAGS * sizeof(char *));
	p.text = pos_arena_alloc(a, len + 1);
	if (!out->terms || !out->phrases || !out->excluded || !out->tags || !out->ignored ||
	    !p.text) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	p.text[0] = '\0';
	out->text = p.text;
	size_t last_end = 0;

	for (size_t i = 0; i < len;) {
		size_t k = space_at(&p, i);
		if (k) {
			i += k;
			continue;
		}
		p.last_term = NULL;
		if ((rc = parse_token(&p, &i)))
			goto out;
		last_end = p.last_term ? i : 0;
	}
	/* The word being typed: the last token, a plain word, with nothing
	 * (not even a space) after it. */
	if ((flags & POS_QUERY_TYPING) && p.last_term && last_end == len &&
	    strlen(p.last_term) >= POS_QUERY_PREFIX_MIN)
		out->prefix = p.last_term;
	if ((flags & POS_QUERY_TYPING) && out->after != POS_TIME_NONE &&
	    out->before != POS_TIME_NONE && out->after >= out->before) {
		out->before = POS_TIME_NONE; /* the range is still being typed */
	}
	if (out->after != POS_TIME_NONE && out->before != POS_TIME_NONE &&
	    out->after >= out->before) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "before",
				   "before must be later than after");
		goto out;
	}
	return POS_OK;
out:
	if (rc == POS_ERR_NOMEM)
		pos_error_set(err, rc, NULL, NULL);
	query_reset(out);
	return rc;
}

/* ---- the FTS5 MATCH expression ------------------------------------------ */

/* Writes into d, or only counts when d is NULL (two passes: size, then fill). */
struct writer {
	char *d;
	size_t len;
};

static void w_raw(struct writer *w, const char *s)
{
	size_t n = strlen(s);
	if (w->d)
		memcpy(w->d + w->len, s, n);
	w->len += n;
}

/* An FTS5 string: the only special character inside "..." is ", doubled. */
static void w_str(struct writer *w, const char *s)
{
	w_raw(w, "\"");
	for (; *s; s++) {
		if (w->d)
			w->d[w->len] = *s;
		w->len++;
		if (*s == '"') {
			if (w->d)
				w->d[w->len] = '"';
			w->len++;
		}
	}
	w_raw(w, "\"");
}

static void w_join(struct writer *w, const char **l, size_t n, const char *op,
		   bool *first, const char *prefix)
{
	for (size_t i = 0; i < n; i++) {
		if (!*first)
			w_raw(w, op);
		*first = false;
		w_str(w, l[i]);
		if (prefix && l[i] == prefix) {
			/* only ever inside an OR list (terms) */
			w_raw(w, " OR ");
			w_str(w, l[i]);
			w_raw(w, "*");
		}
	}
}

struct items {
	const char **v;
	size_t n;
};

static void w_match(struct writer *w, struct items t, struct items ph, struct items x,
		    const char *prefix)
{
	bool first, wrap = x.n && (t.n + ph.n > 1 || prefix);
	if (wrap)
		w_raw(w, "(");
	first = true;
	w_join(w, ph.v, ph.n, " AND ", &first, NULL);
	if (ph.n && t.n) {
		/* Phrases are required; terms rank but none is required, so the
		 * OR group repeats the phrases to be true whenever they are. */
		w_raw(w, " AND (");
		first = true;
		w_join(w, ph.v, ph.n, " OR ", &first, NULL);
		w_join(w, t.v, t.n, " OR ", &first, prefix);
		w_raw(w, ")");
	} else {
		w_join(w, t.v, t.n, " OR ", &first, prefix);
	}
	if (wrap)
		w_raw(w, ")");
	if (x.n) {
		w_raw(w, x.n > 1 ? " NOT (" : " NOT ");
		first = true;
		w_join(w, x.v, x.n, " OR ", &first, NULL);
		if (x.n > 1)
			w_raw(w, ")");
	}
}

/* The items of `src` that tokenize to something, and are not stop words
 * when `stop` is set. */
static struct items keep(struct pos_arena *a, const char **src, size_t n, bool stop,
			 const char *prefix)
{
	struct items r = {pos_arena_alloc(a, (n ? n : 1) * sizeof(char *)), 0};
	for (size_t i = 0; r.v && i < n; i++) {
		size_t len = strlen(src[i]);
		if (!pos_query_has_token(src[i], len))
			continue;
		if (stop && src[i] != prefix && pos_query_only_stopwords(src[i], len))
			continue;
		r.v[r.n++] = src[i];
	}
	return r;
}

enum pos_err pos_query_fts_match(struct pos_arena *a, const struct pos_query *q,
				 bool drop_stopwords, const char **match)
{
	*match = NULL;
	const char *prefix = q->prefix;
	struct items t = keep(a, q->terms, q->n_terms, drop_stopwords, prefix);
	struct items ph = keep(a, q->phrases, q->n_phrases, false, NULL);
	struct items x = keep(a, q->excluded, q->n_excluded, false, NULL);
	if (!t.v || !ph.v || !x.v)
		return POS_ERR_NOMEM;
	if (drop_stopwords && !t.n && !ph.n)
		t = keep(a, q->terms, q->n_terms, false, prefix);
	/* a prefix of punctuation only has no token to extend */
	bool has_prefix = false;
	for (size_t i = 0; i < t.n; i++)
		has_prefix |= t.v[i] == prefix;
	if (!has_prefix)
		prefix = NULL;
	if (!t.v)
		return POS_ERR_NOMEM;
	if (!t.n && !ph.n)
		return POS_OK;
	if (t.n && q->n_alts) {
		/* the engine's alternatives: more OR-ed words after the terms */
		struct items al = keep(a, q->alts, q->n_alts, false, NULL);
		const char **v = pos_arena_alloc(a, (t.n + al.n + 1) * sizeof(*v));
		if (!al.v || !v)
			return POS_ERR_NOMEM;
		memcpy(v, t.v, t.n * sizeof(*v));
		memcpy(v + t.n, al.v, al.n * sizeof(*v));
		t.v = v;
		t.n += al.n;
	}

	struct writer w = {NULL, 0};
	w_match(&w, t, ph, x, prefix);
	char *d = pos_arena_alloc(a, w.len + 1);
	if (!d)
		return POS_ERR_NOMEM;
	w = (struct writer){d, 0};
	w_match(&w, t, ph, x, prefix);
	d[w.len] = '\0';
	*match = d;
	return POS_OK;
}
