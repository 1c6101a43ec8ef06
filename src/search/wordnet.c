/*
 * wordnet.c — WordNet 3.0's database files, mapped and searched in place
 * (see wordnet.h; the formats are wndb(5) and morphy(7)).
 */
#include "search/wordnet.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"

enum { WN_NOUN, WN_VERB, WN_ADJ, WN_ADV, WN_POS };

static const char *const POS_NAME[WN_POS] = {"noun", "verb", "adj", "adv"};

struct wn_file {
	const char *p;          /* NULL: absent */
	size_t n;
	size_t body;            /* where the sorted lines start (after the licence) */
};

/* An irregular form and its base (the .exc files' lines), into the maps. */
struct exc_pair {
	const char *base, *form;
	size_t blen, flen;
};

struct pos_wordnet {
	struct wn_file idx[WN_POS], data[WN_POS], exc[WN_POS];
	struct wn_file counts;  /* cntlist.rev: how often each sense was seen */
	/* the .exc files turned around: base -> irregular forms, by base */
	struct exc_pair *forms;
	size_t n_forms;
};

static enum pos_err map_file(const char *dir, const char *name, const char *pos,
			     struct wn_file *f, bool required)
{
	char path[4096];
	int len = snprintf(path, sizeof(path), "%s/%s%s%s", dir, name, *name && *pos ? "." : "",
			   pos);
	if (len < 0 || (size_t)len >= sizeof(path))
		return POS_ERR_NOT_FOUND;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return required ? POS_ERR_NOT_FOUND : POS_OK;
	struct stat st;
	enum pos_err rc = POS_OK;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		rc = required ? POS_ERR_NOT_FOUND : POS_OK;
	} else {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			rc = POS_ERR_IO;
		} else {
			f->p = m;
			f->n = (size_t)st.st_size;
			/* the licence at the top of index files: lines that start
			 * with a space */
			size_t b = 0;
			while (b < f->n && f->p[b] == ' ') {
				const char *nl = memchr(f->p + b, '\n', f->n - b);
				b = nl ? (size_t)(nl - f->p) + 1 : f->n;
			}
			f->body = b;
		}
	}
	close(fd);
	return rc;
}

void pos_wordnet_close(struct pos_wordnet *wn)
{
	if (!wn)
		return;
	struct wn_file *all[] = {wn->idx, wn->data, wn->exc};
	for (size_t k = 0; k < 3; k++)
		for (int i = 0; i < WN_POS; i++)
			if (all[k][i].p)
				munmap((void *)all[k][i].p, all[k][i].n);
	if (wn->counts.p)
		munmap((void *)wn->counts.p, wn->counts.n);
	pos_free(wn->forms);
	pos_free(wn);
}

/* ---- reading lines ---- */

struct cur {
	const char *p, *end;    /* the rest of one line */
};

/* The next space-separated field of the line; false at its end. */
static bool field(struct cur *c, const char **s, size_t *n)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
	if (c->p >= c->end)
		return false;
	const char *b = c->p;
	while (c->p < c->end && *c->p != ' ')
		c->p++;
	*s = b;
	*n = (size_t)(c->p - b);
	return true;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static int cmp_pair(const void *x, const void *y)
{
	const struct exc_pair *a = x, *b = y;
	int c = cmp_bytes(a->base, a->blen, b->base, b->blen);
	return c ? c : cmp_bytes(a->form, a->flen, b->form, b->flen);
}


/* The irregular forms of every base: the .exc lines ("form base ...")
 * turned around and sorted by base (about 6,000 pairs). */
static enum pos_err build_forms(struct pos_wordnet *wn)
{
	size_t cap = 0;
	for (int p = 0; p < WN_POS; p++)
		for (size_t i = 0; i < wn->exc[p].n; i++)
			cap += wn->exc[p].p[i] == '\n' || wn->exc[p].p[i] == ' ';
	if (!cap)
		return POS_OK;
	wn->forms = pos_calloc(cap, sizeof(*wn->forms));
	if (!wn->forms)
		return POS_ERR_NOMEM;
	for (int p = 0; p < WN_POS; p++) {
		const struct wn_file *f = &wn->exc[p];
		for (size_t at = 0; f->p && at < f->n;) {
			const char *nl = memchr(f->p + at, '\n', f->n - at);
			struct cur c = {f->p + at, nl ? nl : f->p + f->n};
			const char *form, *base;
			size_t fl, bl;
			if (field(&c, &form, &fl))
				while (field(&c, &base, &bl) && wn->n_forms < cap)
					wn->forms[wn->n_forms++] = (struct exc_pair){base, form, bl, fl};
			at = nl ? (size_t)(nl - f->p) + 1 : f->n;
		}
	}
	qsort(wn->forms, wn->n_forms, sizeof(*wn->forms), cmp_pair);
	return POS_OK;
}

enum pos_err pos_wordnet_open(const char *dir, struct pos_wordnet **out)
{
	*out = NULL;
	if (!dir || !*dir)
		return POS_ERR_NOT_FOUND;
	struct pos_wordnet *wn = pos_calloc(1, sizeof(*wn));
	if (!wn)
		return POS_ERR_NOMEM;
	enum pos_err rc = POS_OK;
	for (int i = 0; i < WN_POS && !rc; i++) {
		char exc[16];
		snprintf(exc, sizeof(exc), "%s.exc", POS_NAME[i]);
		rc = map_file(dir, "index", POS_NAME[i], &wn->idx[i], true);
		if (!rc)
			rc = map_file(dir, "data", POS_NAME[i], &wn->data[i], true);
		if (!rc)
			rc = map_file(dir, exc, "", &wn->exc[i], false);
	}
	if (!rc)
		rc = map_file(dir, "cntlist.rev", "", &wn->counts, false);
	if (!rc)
		rc = build_forms(wn);
	if (rc) {
		pos_wordnet_close(wn);
		return rc;
	}
	*out = wn;
	return POS_OK;
}

static bool field_num(struct cur *c, int base, unsigned long *v)
{
	const char *s;
	size_t n;
	if (!field(c, &s, &n) || n > 12)
		return false;
	unsigned long r = 0;
	for (size_t i = 0; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
			: s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
						     : 99;
		if (d >= base)
			return false;
		r = r * (unsigned long)base + (unsigned long)d;
	}
	*v = r;
	return true;
}

/* The line starting at byte `at` of f. */
static struct cur line_at(const struct wn_file *f, size_t at)
{
	const char *b = f->p + at;
	const char *nl = memchr(b, '\n', f->n - at);
	return (struct cur){b, nl ? nl : f->p + f->n};
}

/* The line of a sorted file whose first field is the key (bisection, as
 * WordNet's own bin_search: the files sort by byte value). */
static bool find_line(const struct wn_file *f, const char *key, size_t klen, struct cur *out)
{
	if (!f->p)
		return false;
	size_t lo = f->body, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		while (mid > lo && f->p[mid - 1] != '\n')
			mid--;
		struct cur c = line_at(f, mid);
		const char *s;
		size_t n;
		if (!field(&c, &s, &n))
			return false; /* an empty line: not a file of ours */
		int cmp = memcmp(s, key, n < klen ? n : klen);
		if (!cmp)
			cmp = (n > klen) - (n < klen);
		if (!cmp) {
			*out = line_at(f, mid); /* from its first field */
			return true;
		}
		if (cmp < 0)
			lo = (size_t)(c.end - f->p) + 1;
		else
			hi = mid;
	}
	return false;
}

/* The first line of a sorted file whose first field is >= key: its offset. */
static size_t lower_bound(const struct wn_file *f, const char *key, size_t klen)
{
	size_t lo = f->body, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		while (mid > lo && f->p[mid - 1] != '\n')
			mid--;
		struct cur c = line_at(f, mid);
		const char *s;
		size_t n;
		if (!field(&c, &s, &n))
			return f->n;
		int cmp = memcmp(s, key, n < klen ? n : klen);
		if (!cmp)
			cmp = (n > klen) - (n < klen);
		if (cmp < 0)
			lo = (size_t)(c.end - f->p) + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How often the first sense of lemma in pos was seen in the tagged texts
 * (cntlist.rev, "lemma%<pos>:..." lines; 0 when absent). */
static unsigned long first_sense_count(const struct pos_wordnet *wn, int pos,
				       const char *lemma, size_t len)
{
	static const char SS_TYPE[WN_POS] = {'1', '2', '3', '4'};
	const struct wn_file *f = &wn->counts;
	if (!f->p)
		return 0;
	char key[POS_WORDNET_WORD_MAX + 4];
	memcpy(key, lemma, len);
	key[len] = '%';
	key[len + 1] = SS_TYPE[pos];
	key[len + 2] = ':';
	size_t kl = len + 3;
	for (size_t at = lower_bound(f, key, kl); at < f->n;) {
		struct cur c = line_at(f, at);
		const char *s;
		size_t n;
		unsigned long sense, count;
		if (!field(&c, &s, &n) || n < kl || memcmp(s, key, kl) != 0)
			break;
		if (field_num(&c, 10, &sense) && sense == 1 && field_num(&c, 10, &count))
			return count;
		at = (size_t)(c.end - f->p) + 1;
	}
	return 0;
}

/* ---- morphy ---- */

struct sense {
	bool found;
	char lemma[POS_WORDNET_WORD_MAX + 1];
	size_t len;
	unsigned long synset;       /* the first sense's offset in data.<pos> */
	unsigned long seen;         /* how often that sense was seen in text */
	bool irregular;             /* the lemma came from an exception list */
};

/* Reads the index line of `lemma` in pos: its first sense. */
static bool index_entry(const struct pos_wordnet *wn, int pos, const char *lemma, size_t len,
			struct sense *out)
{
	struct cur c;
	if (!find_line(&wn->idx[pos], lemma, len, &c))
		return false;
	const char *s;
	size_t n;
	unsigned long synsets, pcnt, senses, tagged, off;
	(void)senses;
	(void)tagged;
	if (!field(&c, &s, &n) || !field(&c, &s, &n) || !field_num(&c, 10, &synsets) ||
	    !field_num(&c, 10, &pcnt))
		return false;
	for (unsigned long i = 0; i < pcnt; i++)
		if (!field(&c, &s, &n))
			return false;
	if (!field_num(&c, 10, &senses) || !field_num(&c, 10, &tagged) || !synsets ||
	    !field_num(&c, 10, &off))
		return false;
	out->found = true;
	memcpy(out->lemma, lemma, len);
	out->lemma[len] = 0;
	out->len = len;
	out->synset = off;
	out->seen = first_sense_count(wn, pos, lemma, len);
	return true;
}

struct rule {
	const char *suffix, *ending;
};

/* morphy(7)'s detachment rules */
static const struct rule NOUN_RULES[] = {{"s", ""},     {"ses", "s"},   {"xes", "x"},
					 {"zes", "z"},  {"ches", "ch"}, {"shes", "sh"},
					 {"men", "man"}, {"ies", "y"},  {NULL, NULL}};
static const struct rule VERB_RULES[] = {{"s", ""},   {"ies", "y"}, {"es", "e"},  {"es", ""},
					 {"ed", "e"}, {"ed", ""},   {"ing", "e"}, {"ing", ""},
					 {NULL, NULL}};
static const struct rule ADJ_RULES[] = {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"},
					{NULL, NULL}};
static const struct rule *const RULES[WN_POS] = {NOUN_RULES, VERB_RULES, ADJ_RULES, NULL};

/* The base form of w in pos, as morphy finds it: the word itself, an
 * irregular form's base, then the suffix rules. */
static bool base_form(const struct pos_wordnet *wn, int pos, const char *w, size_t n,
		      struct sense *out)
{
	if (index_entry(wn, pos, w, n, out))
		return true;
	struct cur c;
	if (find_line(&wn->exc[pos], w, n, &c)) {
		const char *s;
		size_t sn;
		field(&c, &s, &sn);
		while (field(&c, &s, &sn))
			if (sn <= POS_WORDNET_WORD_MAX && index_entry(wn, pos, s, sn, out)) {
				out->irregular = true;
				return true;
			}
	}
	if (pos == WN_NOUN && n > 2 && w[n - 1] == 's' && w[n - 2] == 's')
		return false; /* "glass" is not the plural of "glas" */
	for (const struct rule *r = RULES[pos]; r && r->suffix; r++) {
		size_t sl = strlen(r->suffix), el = strlen(r->ending);
		if (n <= sl || memcmp(w + n - sl, r->suffix, sl) != 0)
			continue;
		char b[POS_WORDNET_WORD_MAX + 8];
		size_t bl = n - sl;
		memcpy(b, w, bl);
		memcpy(b + bl, r->ending, el);
		bl += el;
		if (bl >= 2 && index_entry(wn, pos, b, bl, out))
			return true;
	}
	return false;
}

/* ---- synsets ---- */

#define SYN_WORDS 32

struct synset {
	const char *w[SYN_WORDS];
	size_t wl[SYN_WORDS];
	size_t nw;
	struct cur ptrs;        /* the pointer fields */
	unsigned long nptr;
};

static int pos_of(char c)
{
	switch (c) {
	case 'n': return WN_NOUN;
	case 'v': return WN_VERB;
	case 'a': case 's': return WN_ADJ;
	case 'r': return WN_ADV;
	default: return -1;
	}
}

static bool read_synset(const struct pos_wordnet *wn, int pos, unsigned long off,
			struct synset *out)
{
	const struct wn_file *f = &wn->data[pos];
	if (off >= f->n || (off && f->p[off - 1] != '\n'))
		return false;
	struct cur c = line_at(f, off);
	const char *s;
	size_t n;
	unsigned long words, lex, nptr;
	if (!field(&c, &s, &n) || !field(&c, &s, &n) || !field(&c, &s, &n) ||
	    !field_num(&c, 16, &words))
		return false;
	out->nw = 0;
	for (unsigned long i = 0; i < words; i++) {
		if (!field(&c, &s, &n) || !field_num(&c, 16, &lex))
			return false;
		/* adjectives may carry a syntactic marker: "galore(ip)" */
		const char *paren = memchr(s, '(', n);
		if (paren)
			n = (size_t)(paren - s);
		if (out->nw < SYN_WORDS) {
			out->w[out->nw] = s;
			out->wl[out->nw++] = n;
		}
	}
	if (!field_num(&c, 10, &nptr))
		return false;
	out->ptrs = c;
	out->nptr = nptr;
	return true;
}

/* ASCII case-insensitive equality of a synset word and a lemma. */
static bool same_word(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] | 0x20) : a[i];
		if (x != b[i])
			return false;
	}
	return true;
}

struct out {
	struct pos_wordnet_word *v;
	size_t n, max;
	const char *word;       /* as asked (lower case) */
	size_t word_len;
	const struct sense *senses;
};

/* Adds a word when it is one word of letters, new, and not the word
 * asked, nor (but for an irregular form) one of its base forms. */
static void add(struct out *o, const char *s, size_t n, enum pos_wordnet_kind kind)
{
	if (o->n >= o->max || n < 2 || n > POS_WORDNET_WORD_MAX)
		return;
	char w[POS_WORDNET_WORD_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c | 0x20);
		if (c < 'a' || c > 'z')
			return; /* "medical_doctor", "Dr.", "3-D" */
		w[i] = c;
	}
	w[n] = 0;
	if (n == o->word_len && !memcmp(w, o->word, n))
		return;
	for (int p = 0; p < WN_POS && kind != POS_WORDNET_FORM; p++)
		if (o->senses[p].found && o->senses[p].len == n && !memcmp(o->senses[p].lemma, w, n))
			return;
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].len == n && !memcmp(o->v[i].w, w, n))
			return;
	memcpy(o->v[o->n].w, w, n + 1);
	o->v[o->n].len = n;
	o->v[o->n++].kind = kind;
}

/* The derivationally related forms (pointer "+") of the sense's lemma. */
static void derived(const struct pos_wordnet *wn, const struct synset *ss, size_t k,
		    struct out *o)
{
	struct cur c = ss->ptrs;
	for (unsigned long i = 0; i < ss->nptr; i++) {
		const char *sym, *ps, *st;
		size_t symn, pn, stn;
		unsigned long off;
		if (!field(&c, &sym, &symn) || !field_num(&c, 10, &off) || !field(&c, &ps, &pn) ||
		    !field(&c, &st, &stn))
			return;
		if (symn != 1 || *sym != '+' || pn != 1 || stn != 4)
			continue;
		unsigned src = 0, tgt = 0;
		for (int j = 0; j < 4; j++) {
			char h = st[j];
			unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
				     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10) : 0;
			if (j < 2)
				src = src * 16 + d;
			else
				tgt = tgt * 16 + d;
		}
		int tp = pos_of(*ps);
		struct synset t;
		if (src != k + 1 || tp < 0 || !tgt || !read_synset(wn, tp, off, &t) || tgt > t.nw)
			continue;
		add(o, t.w[tgt - 1], t.wl[tgt - 1], POS_WORDNET_DERIVED);
	}
}

/* Whether `form` is `base` with an ending a stemmer removes anyway
 * (kid -> kidding, kidded; go -> goes): the exception lists hold such
 * forms for WordNet's own rules, and they would only repeat the word. */
static bool regular(const char *base, size_t bl, const char *form, size_t fl)
{
	if (fl > bl && !memcmp(form, base, bl)) {
		const char *e = form + bl;
		size_t el = fl - bl;
		if (el >= 2 && e[0] == base[bl - 1]) { /* a doubled consonant */
			e++;
			el--;
		}
		static const char *const END[] = {"s", "es", "ed", "ing", "er", "est", NULL};
		for (size_t i = 0; END[i]; i++)
			if (strlen(END[i]) == el && !memcmp(e, END[i], el))
				return true;
	}
	return false;
}

/* The irregular forms of lemma (the .exc files turned around). */
static void forms_of(const struct pos_wordnet *wn, const char *lemma, size_t len, struct out *o)
{
	size_t lo = 0, hi = wn->n_forms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_bytes(wn->forms[mid].base, wn->forms[mid].blen, lemma, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < wn->n_forms && !cmp_bytes(wn->forms[lo].base, wn->forms[lo].blen, lemma, len);
	     lo++)
		if (!regular(lemma, len, wn->forms[lo].form, wn->forms[lo].flen))
			add(o, wn->forms[lo].form, wn->forms[lo].flen, POS_WORDNET_FORM);
}

size_t pos_wordnet_related(const struct pos_wordnet *wn, const char *word, size_t len,
			   struct pos_wordnet_word *out, size_t max)
{
	if (!wn || !word || len < 2 || len > POS_WORDNET_WORD_MAX || !max)
		return 0;
	char w[POS_WORDNET_WORD_MAX + 1];
	for (size_t i = 0; i < len; i++) {
		char c = word[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c | 0x20);
		if (c < 'a' || c > 'z')
			return 0;
		w[i] = c;
	}
	w[len] = 0;
	struct sense senses[WN_POS] = {0};
	int order[WN_POS], n_order = 0;
	for (int p = 0; p < WN_POS; p++)
		if (base_form(wn, p, w, len, &senses[p]))
			order[n_order++] = p;
	/* the part of speech whose first sense was seen most often in text
	 * first (stable: noun, verb, adjective, adverb on a tie) */
	for (int i = 1; i < n_order; i++)
		for (int j = i; j > 0 && senses[order[j]].seen > senses[order[j - 1]].seen; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	struct out o = {out, 0, max, w, len, senses};
	/* irregular forms first: the base of one asked ("ran" -> "run"), the
	 * forms of the base ("run" -> "ran"), which no stemmer relates */
	for (int p = 0; p < WN_POS; p++) {
		struct cur c;
		const char *b;
		size_t bl;
		if (!find_line(&wn->exc[p], w, len, &c) || !field(&c, &b, &bl))
			continue;
		while (field(&c, &b, &bl))
			if (!regular(b, bl, w, len))
				add(&o, b, bl, POS_WORDNET_FORM);
	}
	for (int i = 0; i < n_order; i++) {
		bool dup = false;
		for (int j = 0; j < i; j++)
			dup |= senses[order[j]].len == senses[order[i]].len &&
			       !memcmp(senses[order[j]].lemma, senses[order[i]].lemma, senses[order[i]].len);
		if (!dup)
			forms_of(wn, senses[order[i]].lemma, senses[order[i]].len, &o);
	}
	if (len < 3)
		return o.n; /* "go": its forms, but a two-letter word's senses are too many */
	struct synset ss[WN_POS];
	size_t self[WN_POS];
	bool ok[WN_POS] = {false};
	for (int i = 0; i < n_order; i++) {
		int p = order[i];
		if (!read_synset(wn, p, senses[p].synset, &ss[p]))
			continue;
		self[p] = SIZE_MAX;
		for (size_t k = 0; k < ss[p].nw && self[p] == SIZE_MAX; k++)
			if (same_word(ss[p].w[k], ss[p].wl[k], senses[p].lemma, senses[p].len))
				self[p] = k;
		ok[p] = self[p] != SIZE_MAX;
	}
	/* Derived forms of every part of speech seen in text (or the only
	 * one), synonyms of the most frequent only: "dog" is a noun first,
	 * and its verb's synonyms ("chase", "tail") are not what is meant. */
	for (int i = 0; i < n_order; i++)
		if (ok[order[i]] && (i == 0 || senses[order[i]].seen > 0))
			derived(wn, &ss[order[i]], self[order[i]], &o);
	/* and of nouns and adjectives only: a verb's synset is a fine
	 * shade of meaning whose other words rarely say the same thing
	 * ("inspired" -> "animate", "happened" -> "pass") */
	for (int i = 0; i < n_order && i < 1; i++) {
		int p = order[i];
		if (p == WN_VERB || p == WN_ADV)
			break;
		for (size_t k = 0; ok[p] && k < ss[p].nw; k++)
			if (k != self[p])
				add(&o, ss[p].w[k], ss[p].wl[k], POS_WORDNET_SYNONYM);
	}
	return o.n;
}
