/*
 * builtin.c — the offline responder: an extractive answer from the
 * retrieved memories, for when no language model is configured.
 *
 * It splits each memory into sentences, scores a sentence by the distinct
 * question words it contains (a word matches when one is a prefix of the
 * other and they share at least four letters, a cheap stand-in for
 * stemming), and lists the best few, each dated and cited by the position of
 * its memory in the request ([1] is the first memory, as in
 * `memories_used`). When nothing matches it falls back to the first
 * sentence of the top memories; with no memories it says so. It always
 * states that no language model is configured.
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

static enum pos_err add_line(struct pos_buf *b, const struct pos_llm_request *req,
			     const struct cand *c)
{
	char date[40];
	pos_time_format(req->docs[c->doc].created_at, date, sizeof(date));
	date[10] = '\0'; /* the day is enough */
	size_t n = pos_utf8_cut(c->s, c->len, SENTENCE_MAX);
	enum pos_err rc = pos_buf_addf(b, "- %s: ", date);
	if (!rc)
		rc = pos_buf_add(b, c->s, n);
	if (!rc && n < c->len)
		rc = pos_buf_adds(b, "…");
	if (!rc)
		rc = pos_buf_addf(b, " [%zu]\n", c->doc + 1);
	return rc;
}

enum pos_err pos_llm_builtin_answer(struct pos_arena *a,
				    const struct pos_llm_request *req,
				    const char **answer, size_t *len)
{
	struct term terms[MAX_TERMS];
	size_t nt = question_terms(req->question, terms);
	struct cand cands[MAX_CANDIDATES];
	size_t nc = 0;
	for (size_t i = 0; i < req->n_docs && nc < MAX_CANDIDATES; i++)
		nc += split_doc(&req->docs[i], i, terms, nt, cands + nc, MAX_CANDIDATES - nc);

	/* The best sentences: highest score first, then the better memory,
	 * then earlier in it (a stable selection, at most MAX_SENTENCES). */
	struct cand pick[MAX_SENTENCES];
	size_t np = 0;
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
	struct pos_buf b;
	pos_buf_init(&b, POS_LLM_ANSWER_MAX);
	if (np == 0 && req->n_docs) {
		/* Nothing matched word for word: the first sentence of the top
		 * memories, which search ranked as closest in meaning. */
		for (size_t d = 0; d < req->n_docs && np < 3; d++)
			for (size_t i = 0; i < nc; i++)
				if (cands[i].doc == d) {
					pick[np++] = cands[i];
					break;
				}
	}
	enum pos_err rc;
	if (np) {
		rc = pos_buf_adds(&b, "No language model is configured, so here is what your "
				 "memories say:\n\n");
		/* Keep memory order, so the list reads like the search ranked it. */
		for (size_t i = 1; i < np; i++)
			for (size_t j = i; j > 0 && pick[j].doc < pick[j - 1].doc; j--) {
				struct cand t = pick[j];
				pick[j] = pick[j - 1];
				pick[j - 1] = t;
			}
		for (size_t i = 0; i < np && !rc; i++)
			rc = add_line(&b, req, &pick[i]);
		if (!rc)
			rc = pos_buf_adds(&b, "\nNumbers in brackets point to the memories used. "
				 "Configure a language model (llm_url) for written answers.");
	} else {
		rc = pos_buf_adds(&b, "No language model is configured, and none of your "
				 "memories match that. Try other words, or add a memory "
				 "about it first.");
	}
	if (rc) {
		pos_buf_free(&b);
		return POS_ERR_NOMEM;
	}
	char *s = pos_arena_strndup(a, b.data, b.len);
	size_t n = b.len;
	pos_buf_free(&b);
	if (!s)
		return POS_ERR_NOMEM;
	*answer = s;
	*len = n;
	return POS_OK;
}
