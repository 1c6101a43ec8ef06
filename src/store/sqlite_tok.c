/*
 * sqlite_tok.c — the "pos" FTS5 tokenizer (see sqlite_tok.h).
 */
#include "store/sqlite_tok.h"

#include <libstemmer.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"

#define TOK_MAX 256             /* longer tokens are passed through unstemmed */

static const char *const SNOWBALL[SQ_LANG__COUNT] = {
	NULL, "german", "french", "spanish", "italian", "portuguese", "dutch"};

/* Stop words per language as unicode61 folds them (lower case, no accents).
 * Words two languages share count for both. */
static const char *const STOP[SQ_LANG__COUNT][40] = {
	{"the", "and", "is", "are", "was", "were", "you", "it", "of", "to", "with",
	 "that", "this", "have", "has", "my", "for", "not", "be", "at", "we", "they",
	 "what", "but", "so", "just", "your", "from", "will", "can", "me", "he", "she",
	 "did", "had", "been", "an", "about", "there", NULL},
	{"der", "die", "das", "und", "ist", "nicht", "ein", "eine", "ich", "mit", "auf",
	 "fur", "den", "dem", "zu", "sie", "es", "wir", "sind", "auch", "sehr", "von",
	 "im", "des", "haben", "habe", "hat", "war", "wie", "aber", "noch", "nach",
	 "uns", "einen", "einem", "heute", "oder", "wenn", "dass", NULL},
	{"le", "la", "les", "et", "est", "une", "un", "des", "du", "je", "nous", "pas",
	 "pour", "dans", "que", "qui", "avec", "sur", "au", "ce", "il", "elle", "sont",
	 "mais", "vous", "aux", "cette", "mon", "ma", "mes", "tres", "avons", "suis",
	 "ai", "ont", "leur", "aussi", "ou", "ne", NULL},
	{"el", "los", "las", "y", "es", "una", "que", "por", "para", "con", "del", "al",
	 "lo", "como", "pero", "muy", "estoy", "esta", "estamos", "mi", "su", "yo",
	 "tengo", "hay", "fue", "son", "sus", "nos", "se", "le", "ayer", "hoy",
	 "tambien", "cuando", "porque", "entre", "sobre", "hemos", "somos", NULL},
	{"il", "gli", "della", "delle", "di", "che", "per", "non", "sono", "nel",
	 "nella", "ma", "anche", "molto", "ho", "abbiamo", "questo", "questa", "io",
	 "come", "alla", "dei", "una", "sul", "con", "mio", "mia", "siamo", "ieri",
	 "oggi", "perche", "quando", "ci", "ha", "hanno", "lo", "le", "degli", NULL},
	{"os", "um", "uma", "nao", "em", "do", "da", "dos", "das", "na", "no", "mas",
	 "muito", "eu", "voce", "com", "para", "por", "que", "foi", "sao", "estou",
	 "tenho", "ele", "ela", "nos", "seu", "sua", "meu", "minha", "ontem", "hoje",
	 "tambem", "quando", "porque", "isso", "esta", "pelo", "pela", NULL},
	{"het", "een", "en", "van", "ik", "je", "niet", "dat", "op", "te", "met", "voor",
	 "zijn", "maar", "ook", "wij", "we", "hebben", "heb", "heeft", "naar", "bij",
	 "uit", "nog", "wat", "zo", "er", "om", "deze", "die", "mijn", "gisteren",
	 "vandaag", "omdat", "wanneer", "zeer", "hun", "ons", "dit", NULL},
};

static bool is_stop(enum sq_lang l, const char *w, size_t n)
{
	/* first letters first: this runs for every word of every write */
	for (size_t i = 0; STOP[l][i]; i++)
		if (STOP[l][i][0] == w[0] && !strncmp(STOP[l][i], w, n) && STOP[l][i][n] == '\0')
			return true;
	return false;
}

enum sq_lang sq_tok_language(const char *text, size_t n)
{
	unsigned hits[SQ_LANG__COUNT] = {0};
	size_t words = 0;
	for (size_t i = 0; i < n && words < 200;) {
		unsigned char c = (unsigned char)text[i];
		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
			i++;
			continue;
		}
		char w[16];
		size_t len = 0;
		bool ascii = true;
		while (i < n) {
			c = (unsigned char)text[i];
			bool letter = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
			if (!letter && c < 0x80)
				break;
			ascii = ascii && letter;
			if (len < sizeof(w))
				w[len] = (char)(letter ? (c | 0x20) : c);
			len++;
			i++;
		}
		words++;
		if (!ascii || len > sizeof(w))
			continue; /* accented words: the stop lists are plain ASCII */
		for (int l = 0; l < SQ_LANG__COUNT; l++)
			hits[l] += is_stop((enum sq_lang)l, w, len);
	}
	enum sq_lang best = SQ_LANG_EN;
	for (int l = 1; l < SQ_LANG__COUNT; l++)
		if (hits[l] > hits[best])
			best = (enum sq_lang)l;
	return best;
}

/* ---- the tokenizer -------------------------------------------------------- */

struct tok {
	fts5_tokenizer uni_api, porter_api;
	Fts5Tokenizer *uni, *porter;
	struct sb_stemmer *sb[SQ_LANG__COUNT];
	bool sb_failed[SQ_LANG__COUNT];
};

static void tok_delete(Fts5Tokenizer *p)
{
	struct tok *t = (struct tok *)p;
	if (!t)
		return;
	if (t->uni)
		t->uni_api.xDelete(t->uni);
	if (t->porter)
		t->porter_api.xDelete(t->porter);
	for (int l = 0; l < SQ_LANG__COUNT; l++)
		if (t->sb[l])
			sb_stemmer_delete(t->sb[l]);
	pos_free(t);
}

static int tok_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)argv;
	(void)argc;
	fts5_api *api = ctx;
	struct tok *t = pos_calloc(1, sizeof(*t));
	if (!t)
		return SQLITE_NOMEM;
	void *ud = NULL;
	const char *uargs[] = {"remove_diacritics", "2"};
	const char *pargs[] = {"unicode61", "remove_diacritics", "2"};
	int rc = api->xFindTokenizer(api, "unicode61", &ud, &t->uni_api);
	if (rc == SQLITE_OK)
		rc = t->uni_api.xCreate(ud, uargs, 2, &t->uni);
	if (rc == SQLITE_OK)
		rc = api->xFindTokenizer(api, "porter", &ud, &t->porter_api);
	if (rc == SQLITE_OK)
		rc = t->porter_api.xCreate(ud, pargs, 3, &t->porter);
	if (rc != SQLITE_OK) {
		tok_delete((Fts5Tokenizer *)t);
		return rc;
	}
	*out = (Fts5Tokenizer *)t;
	return SQLITE_OK;
}

static struct sb_stemmer *stemmer(struct tok *t, enum sq_lang l)
{
	if (!t->sb[l] && !t->sb_failed[l]) {
		t->sb[l] = sb_stemmer_new(SNOWBALL[l], "UTF_8");
		t->sb_failed[l] = !t->sb[l];
	}
	return t->sb[l];
}

/* CJK: Han, kana, Hangul and their compatibility and half-width forms. */
static bool is_cjk(uint32_t c)
{
	return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) ||
	       (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
	       (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFF66 && c <= 0xFF9F) ||
	       (c >= 0x31F0 && c <= 0x31FF) || (c >= 0x1100 && c <= 0x11FF) ||
	       (c >= 0x20000 && c <= 0x2FA1F);
}

/* Length of the UTF-8 character at s (n >= 1 bytes; unicode61's output is
 * well-formed) and its code point. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
	if (len > n)
		len = n;
	uint32_t v = len == 1 ? s[0] : len == 2 ? s[0] & 0x1F : len == 3 ? s[0] & 0x0F : s[0] & 0x07;
	for (size_t i = 1; i < len; i++)
		v = (v << 6) | (s[i] & 0x3F);
	*cp = v;
	return len;
}

struct run {
	struct tok *t;
	void *ctx;
	int flags;              /* FTS5_TOKENIZE_* */
	enum sq_lang lang;      /* documents */
	int (*emit)(void *, int, const char *, int, int, int);
	int start, end;         /* the current unicode61 token's span */
	const char *text;       /* the whole text (English documents) */
	int base;               /* offset of the text on_uni reads in it */
	bool colocated;         /* the next emit is an alternative */
	const char *first;      /* the porter stem emitted (queries) */
	int first_len;
	char first_buf[TOK_MAX];
};

static int on_porter(void *ctx, int flags, const char *tok, int n, int s, int e)
{
	(void)flags;
	(void)s;
	(void)e;
	struct run *r = ctx;
	if (n > 0 && n <= TOK_MAX) {
		memcpy(r->first_buf, tok, (size_t)n);
		r->first = r->first_buf;
		r->first_len = n;
	}
	return SQLITE_OK;
}

/*
 * A stem of another language than English is indexed and asked for with
 * its language's tag ("de:haus"), so it only meets text of that language:
 * an English query word's Dutch stem ("keeper" -> "keep") never matches
 * English text ("keep"), whose words are porter's, untagged. unicode61
 * never makes a token with ':', so a tag cannot be typed.
 */
static const char lang_tag[SQ_LANG__COUNT][4] = {"", "de:", "fr:", "es:", "it:", "pt:", "nl:"};

static int emit_tagged(struct run *r, int flags, enum sq_lang l, const char *st, int sn)
{
	char buf[TOK_MAX + 8];
	if (sn > TOK_MAX + 4)
		return r->emit(r->ctx, flags, st, sn, r->start, r->end);
	memcpy(buf, lang_tag[l], 3);
	memcpy(buf + 3, st, (size_t)sn);
	return r->emit(r->ctx, flags, buf, sn + 3, r->start, r->end);
}

/*
 * Snowball's French stemmer keeps the -ons of the present ("mangeons" ->
 * "mangeon", "parlons" -> "parlon") while the other forms lose it
 * ("manger", "mange" -> "mang"). A query's French stem that ends in a
 * consonant therefore also asks for stem + "on" (+ "eon" after g, as the
 * spelling keeps the soft g). Queries only: the index is Snowball's.
 */
static int french_ons(struct run *r, const char *st, int sn)
{
	char alt[TOK_MAX + 4];
	if (sn < 3 || sn > TOK_MAX)
		return SQLITE_OK;
	char last = st[sn - 1];
	if (!(last >= 'a' && last <= 'z') || strchr("aeiouy", last))
		return SQLITE_OK;
	memcpy(alt, st, (size_t)sn);
	int an = sn;
	if (last == 'g')
		alt[an++] = 'e';
	alt[an++] = 'o';
	alt[an++] = 'n';
	return emit_tagged(r, FTS5_TOKEN_COLOCATED, SQ_LANG_FR, alt, an);
}

/* One word (no CJK): stemmed for the document's language, or, in a query,
 * porter's stem then the other languages' as alternatives. */
static int word(struct run *r, const char *w, int n)
{
	struct tok *t = r->t;
	bool query = r->flags & FTS5_TOKENIZE_QUERY;
	if (!query && r->lang != SQ_LANG_EN) {
		struct sb_stemmer *sb = n <= TOK_MAX ? stemmer(t, r->lang) : NULL;
		const sb_symbol *st = sb ? sb_stemmer_stem(sb, (const sb_symbol *)w, n) : NULL;
		if (st)
			return emit_tagged(r, 0, r->lang, (const char *)st, sb_stemmer_length(sb));
		return emit_tagged(r, 0, r->lang, w, n);
	}
	/* porter, exactly as the stock tokenizer stems it */
	r->first = NULL;
	int rc = t->porter_api.xTokenize(t->porter, r, r->flags, w, n, on_porter);
	if (rc != SQLITE_OK)
		return rc;
	const char *p = r->first ? r->first : w;
	int pn = r->first ? r->first_len : n;
	if ((rc = r->emit(r->ctx, 0, p, pn, r->start, r->end)) != SQLITE_OK)
		return rc;
	if (!query || (r->flags & FTS5_TOKENIZE_PREFIX) || n > TOK_MAX)
		return SQLITE_OK;
	for (int l = 1; l < SQ_LANG__COUNT; l++) {
		struct sb_stemmer *sb = stemmer(t, (enum sq_lang)l);
		const sb_symbol *st = sb ? sb_stemmer_stem(sb, (const sb_symbol *)w, n) : NULL;
		if (!st)
			continue;
		int sn = sb_stemmer_length(sb);
		if (l == SQ_LANG_FR && (rc = french_ons(r, (const char *)st, sn)) != SQLITE_OK)
			return rc;
		/* tagged by language, so no two languages' stems are the same */
		if ((rc = emit_tagged(r, FTS5_TOKEN_COLOCATED, (enum sq_lang)l, (const char *)st,
				      sn)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/* A token from unicode61: CJK runs become bigrams, the rest words. */
static int on_uni(void *ctx, int flags, const char *tok, int n, int s, int e)
{
	(void)flags;
	struct run *r = ctx;
	s += r->base;
	e += r->base;
	r->start = s;
	r->end = e;
	const unsigned char *u = (const unsigned char *)tok;
	size_t i = 0, len = (size_t)n;
	bool any_cjk = false;
	for (size_t k = 0; k < len;) {
		uint32_t cp;
		k += utf8_char(u + k, len - k, &cp);
		any_cjk = any_cjk || is_cjk(cp);
	}
	if (!any_cjk)
		return word(r, tok, n);
	while (i < len) {
		uint32_t cp;
		size_t cl = utf8_char(u + i, len - i, &cp);
		size_t j = i;
		bool cjk = is_cjk(cp);
		/* the run of the same kind from i */
		while (j < len) {
			uint32_t c2;
			size_t l2 = utf8_char(u + j, len - j, &c2);
			if (is_cjk(c2) != cjk)
				break;
			j += l2;
		}
		int rc = SQLITE_OK;
		if (!cjk) {
			rc = word(r, tok + i, (int)(j - i));
		} else if (j - i == cl) {
			rc = r->emit(r->ctx, 0, tok + i, (int)cl, s, e); /* one character */
		} else {
			for (size_t a = i; a < j && rc == SQLITE_OK;) {
				uint32_t c1, c2;
				size_t l1 = utf8_char(u + a, j - a, &c1);
				if (a + l1 >= j)
					break;
				size_t l2 = utf8_char(u + a + l1, j - a - l1, &c2);
				rc = r->emit(r->ctx, 0, tok + a, (int)(l1 + l2), s, e);
				a += l1;
			}
		}
		if (rc != SQLITE_OK)
			return rc;
		i = j;
	}
	return SQLITE_OK;
}

static bool has_cjk(const char *tok, int n)
{
	const unsigned char *u = (const unsigned char *)tok;
	for (size_t k = 0; k < (size_t)n;) {
		uint32_t cp;
		k += utf8_char(u + k, (size_t)n - k, &cp);
		if (is_cjk(cp))
			return true;
	}
	return false;
}

/* An English document goes through porter whole, as before this tokenizer
 * (one pass); a token with CJK in it is read again from the text and split
 * as everywhere else. */
static int on_en_doc(void *ctx, int flags, const char *tok, int n, int s, int e)
{
	struct run *r = ctx;
	if (!has_cjk(tok, n))
		return r->emit(r->ctx, flags, tok, n, s, e);
	r->base = s;
	int rc = r->t->uni_api.xTokenize(r->t->uni, r, r->flags, r->text + s, e - s, on_uni);
	r->base = 0;
	return rc;
}

static int tok_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int n,
			int (*emit)(void *, int, const char *, int, int, int))
{
	struct tok *t = (struct tok *)p;
	struct run r = {.t = t, .ctx = ctx, .flags = flags, .emit = emit};
	bool query = flags & FTS5_TOKENIZE_QUERY;
	r.lang = query || n <= 0 ? SQ_LANG_EN : sq_tok_language(text, (size_t)n);
	r.text = text;
	if (!query && r.lang == SQ_LANG_EN)
		return t->porter_api.xTokenize(t->porter, &r, flags, text, n, on_en_doc);
	return t->uni_api.xTokenize(t->uni, &r, flags, text, n, on_uni);
}

static fts5_api *fts5_of(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return api;
}

int sq_tok_register(sqlite3 *db)
{
	fts5_api *api = fts5_of(db);
	if (!api)
		return SQLITE_ERROR;
	fts5_tokenizer m = {tok_create, tok_delete, tok_tokenize};
	return api->xCreateTokenizer(api, SQ_TOK_NAME, api, &m, NULL);
}
