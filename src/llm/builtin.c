/*
 * builtin.c — the offline responder: an extractive answer from the
 * retrieved memories, for when no language model is configured.
 *
 * It splits each memory into sentences, scores a sentence by the distinct
 * question words it contains (a word matches when one is a prefix of the
 * other and they share at least four letters, a cheap stand-in for
 * stemming), and lists the best few, each dated and cited by the position of
 * the memories it quotes ([1] is the first of them, as in
 * `memories_used`, which the caller trims to those). When nothing matches
 * it falls back to the first sentence of the top memories; with no
 * memories it says so. A time question lists the memories dated in its
 * window instead. Quoted text loses its Markdown; dates are the date a
 * memory is about when known, in the user's zone. It tells the person the
 * answer comes from their notes without a language model.
 */
#include "llm/llm.h"

#include <ctype.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/sentence.h"

#define MAX_TERMS 32
#define MAX_SENTENCES 5
#define SENTENCE_MAX 320
#define MAX_CANDIDATES 256

static const char *const stopwords[] = {
	"the", "and", "for", "are", "was", "were", "what", "when", "where", "who",
	"why", "how", "did", "does", "have", "has", "had", "you", "your", "yours",
	"with", "about", "that", "this", "these", "those", "from", "into", "there",
	"their", "they", "them", "then", "than", "can", "could", "would", "should",
	"will", "shall", "any", "all", "some", "tell", "know", "remember", "which",
	"been", "being", "just", "also", "our", "out", "not", "but", "its", "it's",
	"mine", "me", "my", "is", "am", "do", "to", "of", "in", "on", "at", "a", "an",
};

struct term {
	char w[32];
	size_t n;
};

static bool is_stop(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof(stopwords) / sizeof(stopwords[0]); i++)
		if (strlen(stopwords[i]) == n && memcmp(stopwords[i], w, n) == 0)
			return true;
	return false;
}

static bool word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

static size_t question_terms(const char *q, struct term *t)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)(q ? q : "");
	while (*p && n < MAX_TERMS) {
		while (*p && !word_byte(*p))
			p++;
		const unsigned char *s = p;
		while (*p && word_byte(*p))
			p++;
		size_t len = (size_t)(p - s);
		if (len < 3 || len >= sizeof(t[0].w))
			continue;
		struct term cur = {.n = len};
		for (size_t i = 0; i < len; i++)
			cur.w[i] = (char)tolower(s[i]);
		if (is_stop(cur.w, len))
			continue;
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = t[i].n == len && memcmp(t[i].w, cur.w, len) == 0;
		if (!dup)
			t[n++] = cur;
	}
	return n;
}

/* Whether the word [s, s+len) matches term t (case-insensitive prefix). */
static bool word_matches(const unsigned char *s, size_t len, const struct term *t)
{
	size_t common = len < t->n ? len : t->n;
	if (common < 4 && len != t->n)
		return false;
	for (size_t i = 0; i < common; i++)
		if ((char)tolower(s[i]) != t->w[i])
			return false;
	return true;
}

static unsigned score_span(const char *s, size_t len, const struct term *t, size_t nt)
{
	bool hit[MAX_TERMS] = {false};
	unsigned score = 0;
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		while (p < end && !word_byte(*p))
			p++;
		const unsigned char *w = p;
		while (p < end && word_byte(*p))
			p++;
		size_t wl = (size_t)(p - w);
		for (size_t i = 0; wl && i < nt; i++)
			if (!hit[i] && word_matches(w, wl, &t[i])) {
				hit[i] = true;
				score++;
			}
	}
	return score;
}

struct cand {
	size_t doc;
	const char *s;
	size_t len;
	unsigned score;
};

static void trim(const char **s, size_t *len)
{
	while (*len && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

/* Collects the sentences of one memory as candidates (base/sentence.h
 * keeps "Dr. Ruiz", "3.5", "a.m." and URLs whole). */
static size_t split_doc(const struct pos_llm_doc *d, size_t di, const struct term *t,
			size_t nt, struct cand *out, size_t cap)
{
	size_t n = 0, pos = 0, start, next;
	while (n < cap) {
		size_t end = pos_sentence_next(d->text, d->len, pos, &start, &next);
		if (end == start && next >= d->len)
			break;
		pos = next;
		const char *cs = d->text + start;
		size_t cl = end - start;
		trim(&cs, &cl);
		if (cl < 2)
			continue;
		out[n++] = (struct cand){di, cs, cl, score_span(cs, cl, t, nt)};
	}
	return n;
}

/* ---- Markdown, stripped from quoted text ---- */

/* Copies a memory's text without Markdown markup: heading, list, quote
 * and task-box markers at line starts; emphasis, code and strike marks;
 * links and images reduced to their text. */
static const char *strip_md(struct pos_arena *a, const char *s, size_t len, size_t *out_len)
{
	char *o = pos_arena_alloc(a, len + 1);
	if (!o)
		return NULL;
	size_t n = 0;
	bool line_start = true;
	for (size_t i = 0; i < len;) {
		if (line_start) {
			size_t j = i;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			size_t k = j;
			while (k < len && (s[k] == '#' || s[k] == '>'))
				k++;
			if (k == j && k + 1 < len && (s[k] == '-' || s[k] == '*' || s[k] == '+') &&
			    s[k + 1] == ' ')
				k++;
			else if (k == j) {
				size_t d = k;
				while (d < len && isdigit((unsigned char)s[d]))
					d++;
				if (d > k && d + 1 < len && (s[d] == '.' || s[d] == ')') && s[d + 1] == ' ')
					k = d + 1;
			}
			while (k < len && s[k] == ' ')
				k++;
			if (k + 2 < len && s[k] == '[' && (s[k + 1] == ' ' || s[k + 1] == 'x' ||
							   s[k + 1] == 'X') && s[k + 2] == ']')
				k += 3; /* - [ ] task box */
			while (k < len && s[k] == ' ')
				k++;
			if (k > j)
				i = k;
			line_start = false;
			continue;
		}
		char c = s[i];
		if (c == '\n') {
			o[n++] = c;
			i++;
			line_start = true;
			continue;
		}
		if ((c == '*' || c == '_' || c == '~') && i + 1 < len && s[i + 1] == c) {
			i += 2; /* **bold**, __bold__, ~~strike~~ */
			continue;
		}
		if (c == '`') {
			i++;
			continue;
		}
		if ((c == '[' || (c == '!' && i + 1 < len && s[i + 1] == '['))) {
			/* [text](url) and ![alt](url): keep the text */
			size_t t = i + (c == '!' ? 2 : 1);
			const char *close = memchr(s + t, ']', len - t);
			if (close && (size_t)(close - s) + 1 < len && close[1] == '(') {
				const char *end = memchr(close + 2, ')', len - (size_t)(close + 2 - s));
				if (end && !memchr(s + t, '\n', (size_t)(end - (s + t)))) {
					size_t tl = (size_t)(close - (s + t));
					memcpy(o + n, s + t, tl);
					n += tl;
					i = (size_t)(end - s) + 1;
					continue;
				}
			}
		}
		o[n++] = c;
		i++;
	}
	o[n] = '\0';
	*out_len = n;
	return o;
}

/* ---- dates ---- */

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* "2026-12-03 (Thu)", with " 10:00" when the time is not midnight, in the
 * user's zone. */
static void fmt_day(int64_t t, int tz_min, bool with_time, char *out, size_t cap)
{
	int64_t local = t + (int64_t)tz_min * 60 * 1000000;
	char iso[POS_TIME_FMT_LEN];
	pos_time_format(local, iso, sizeof(iso));
	int64_t days = local / 86400000000LL - (local % 86400000000LL < 0);
	const char *wd = wdays[((days % 7) + 11) % 7];
	bool midnight = strncmp(iso + 11, "00:00", 5) == 0;
	if (with_time && !midnight)
		snprintf(out, cap, "%.10s (%s) %.5s", iso, wd, iso + 11);
	else
		snprintf(out, cap, "%.10s (%s)", iso, wd);
}

/* The citation number of doc `di`: its rank among the cited docs. */
static size_t cite_no(const bool *cited, size_t di)
{
	size_t k = 0;
	for (size_t i = 0; i <= di; i++)
		k += cited[i];
	return k;
}

static enum pos_err add_line(struct pos_buf *b, const struct pos_llm_request *req,
			     const bool *cited, const struct cand *c)
{
	const struct pos_llm_doc *d = &req->docs[c->doc];
	char date[48];
	fmt_day(d->has_when ? d->when : d->created_at, req->tz_offset_min, d->has_when,
		date, sizeof(date));
	size_t n = pos_utf8_cut(c->s, c->len, SENTENCE_MAX);
	enum pos_err rc = pos_buf_addf(b, "- %s: ", date);
	if (!rc)
		rc = pos_buf_add(b, c->s, n);
	if (!rc && n < c->len)
		rc = pos_buf_adds(b, "…");
	if (!rc)
		rc = pos_buf_addf(b, " [%zu]\n", cite_no(cited, c->doc));
	return rc;
}

#define FOOTER "\nI answered from your notes directly, without a language model, " \
	       "so these are their own words; the numbers in brackets point to the notes used."

enum pos_err pos_llm_builtin_answer(struct pos_arena *a,
				    const struct pos_llm_request *req,
				    const char **answer, size_t *len)
{
	struct term terms[MAX_TERMS];
	size_t nt = question_terms(req->question, terms);
	/* Quote the memories without their Markdown. */
	struct pos_llm_doc *docs = pos_arena_alloc(a, (req->n_docs + 1) * sizeof(*docs));
	bool *cited = pos_arena_zalloc(a, req->n_docs + 1);
	if (!docs || !cited)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < req->n_docs; i++) {
		docs[i] = req->docs[i];
		docs[i].text = strip_md(a, req->docs[i].text ? req->docs[i].text : "",
					req->docs[i].len, &docs[i].len);
		if (!docs[i].text)
			return POS_ERR_NOMEM;
	}
	struct pos_llm_request r = *req;
	r.docs = docs;
	struct cand *cands = pos_arena_alloc(a, MAX_CANDIDATES * sizeof(*cands));
	if (!cands)
		return POS_ERR_NOMEM;
	size_t nc = 0;
	for (size_t i = 0; i < r.n_docs && nc < MAX_CANDIDATES; i++)
		nc += split_doc(&docs[i], i, terms, nt, cands + nc, MAX_CANDIDATES - nc);

	struct cand pick[MAX_SENTENCES > 12 ? MAX_SENTENCES : 12];
	size_t np = 0;
	struct pos_buf b;
	pos_buf_init(&b, POS_LLM_ANSWER_MAX);
	enum pos_err rc = POS_OK;
	if (r.window) {
		/* A time question: the memories dated in the window, soonest
		 * first, each by its best sentence (the first when none
		 * matches a word of the question). */
		size_t cap = sizeof(pick) / sizeof(pick[0]);
		for (size_t di = 0; di < r.n_docs && np < cap; di++) {
			const struct pos_llm_doc *d = &docs[di];
			if (!d->has_when || d->when < r.window_from || d->when >= r.window_to)
				continue;
			size_t best = nc;
			for (size_t i = 0; i < nc; i++)
				if (cands[i].doc == di &&
				    (best == nc || cands[i].score > cands[best].score))
					best = i;
			if (best == nc)
				continue;
			pick[np++] = cands[best];
			cited[di] = true;
		}
		for (size_t i = 1; i < np; i++) /* by date, stable */
			for (size_t j = i; j > 0 && docs[pick[j].doc].when < docs[pick[j - 1].doc].when; j--) {
				struct cand t = pick[j];
				pick[j] = pick[j - 1];
				pick[j - 1] = t;
			}
		const char *label = r.window_label ? r.window_label : "then";
		if (np) {
			rc = pos_buf_addf(&b, "Here is what your notes have for %s:\n\n", label);
			for (size_t i = 0; i < np && !rc; i++)
				rc = add_line(&b, &r, cited, &pick[i]);
			if (!rc)
				rc = pos_buf_adds(&b, FOOTER);
		} else {
			rc = pos_buf_addf(&b, "I found nothing in your notes dated %s. Events, tasks "
					 "with a due date and notes that name a day show up here.",
					 label);
		}
		goto done;
	}
	/* The best sentences: highest score first, then the better memory,
	 * then earlier in it (a stable selection, at most MAX_SENTENCES). */
	bool used[MAX_CANDIDATES] = {false};
	while (np < MAX_SENTENCES) {
		size_t best = nc;
		for (size_t i = 0; i < nc; i++)
			if (!used[i] && cands[i].score &&
			    (best == nc || cands[i].score > cands[best].score))
				best = i;
		if (best == nc)
			break;
		used[best] = true;
		pick[np++] = cands[best];
	}
	if (np == 0 && r.n_docs) {
		/* Nothing matched word for word: the first sentence of the top
		 * memories, which search ranked as closest in meaning. */
		for (size_t d = 0; d < r.n_docs && np < 3; d++)
			for (size_t i = 0; i < nc; i++)
				if (cands[i].doc == d) {
					pick[np++] = cands[i];
					break;
				}
	}
	if (np) {
		/* Keep memory order, so the list reads like the search ranked it. */
		for (size_t i = 1; i < np; i++)
			for (size_t j = i; j > 0 && pick[j].doc < pick[j - 1].doc; j--) {
				struct cand t = pick[j];
				pick[j] = pick[j - 1];
				pick[j - 1] = t;
			}
		for (size_t i = 0; i < np; i++)
			cited[pick[i].doc] = true;
		rc = pos_buf_adds(&b, "Here is what your notes say:\n\n");
		for (size_t i = 0; i < np && !rc; i++)
			rc = add_line(&b, &r, cited, &pick[i]);
		if (!rc)
			rc = pos_buf_adds(&b, FOOTER);
	} else {
		rc = pos_buf_adds(&b, "I could not find anything about that in your notes. Try "
				 "other words, or add a note about it first.");
	}
done:
	if (rc) {
		pos_buf_free(&b);
		return POS_ERR_NOMEM;
	}
	if (req->cited)
		for (size_t i = 0; i < req->n_docs; i++)
			req->cited[i] = cited[i];
	char *s = pos_arena_strndup(a, b.data, b.len);
	size_t n = b.len;
	pos_buf_free(&b);
	if (!s)
		return POS_ERR_NOMEM;
	*answer = s;
	*len = n;
	return POS_OK;
}
