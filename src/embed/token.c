/*
 * token.c — text analysis for the embedders: UTF-8 normalization, word
 * splitting, clitics, stop words and the Porter stemmer (M. F. Porter, "An
 * algorithm for suffix stripping", 1980, with the two departures of his own
 * reference C version: "bli" -> "ble" and "logi" -> "log" in step 2).
 */
#include "embed/token.h"

#include <stdlib.h>
#include <string.h>

/* ---- character classes ------------------------------------------------- */

enum unit_kind { U_SEP, U_LETTER, U_DIGIT, U_APOS, U_CJK };

/* One decoded character: its class and the (folded) bytes to keep. */
struct unit {
	enum unit_kind kind;
	unsigned char len;   /* bytes to append */
	unsigned char wide;  /* non-ASCII letter kept as is */
	unsigned char out[4];
	size_t advance;      /* input bytes consumed */
};

/* Latin-1 Supplement U+00C0..U+00FF folded to ASCII ("" = separator). */
static const char *const latin1_fold[64] = {
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
	"i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", "",
	"o", "u", "u", "u", "u", "y", "th", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
	"i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", "",
	"o", "u", "u", "u", "u", "y", "th", "y",
};

/* Latin Extended-A U+0100..U+017F: ranges folded to ASCII. */
static const struct {
	unsigned short lo, hi;
	const char *to;
} latin_ext_fold[] = {
	{0x100, 0x105, "a"}, {0x106, 0x10D, "c"}, {0x10E, 0x111, "d"},
	{0x112, 0x11B, "e"}, {0x11C, 0x123, "g"}, {0x124, 0x127, "h"},
	{0x128, 0x131, "i"}, {0x132, 0x133, "ij"}, {0x134, 0x135, "j"},
	{0x136, 0x138, "k"}, {0x139, 0x142, "l"}, {0x143, 0x14B, "n"},
	{0x14C, 0x151, "o"}, {0x152, 0x153, "oe"}, {0x154, 0x159, "r"},
	{0x15A, 0x161, "s"}, {0x162, 0x167, "t"}, {0x168, 0x173, "u"},
	{0x174, 0x175, "w"}, {0x176, 0x178, "y"}, {0x179, 0x17E, "z"},
	{0x17F, 0x17F, "s"},
};

static void unit_ascii(struct unit *u, enum unit_kind kind, const char *s)
{
	size_t n = strlen(s);
	u->kind = n ? kind : U_SEP;
	u->len = (unsigned char)n;
	memcpy(u->out, s, n);
}

static void unit_wide(struct unit *u, enum unit_kind kind, uint32_t cp)
{
	/* re-encode (after lower-casing) as UTF-8 */
	u->kind = kind;
	u->wide = 1;
	if (cp < 0x800) {
		u->out[0] = (unsigned char)(0xC0 | (cp >> 6));
		u->out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		u->len = 2;
	} else {
		u->out[0] = (unsigned char)(0xE0 | (cp >> 12));
		u->out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u->out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		u->len = 3;
	}
}

static void classify_cp(struct unit *u, uint32_t cp)
{
	if (cp < 0xC0) {
		u->kind = U_SEP; /* C1 controls, NBSP, Latin-1 punctuation */
	} else if (cp < 0x100) {
		unit_ascii(u, U_LETTER, latin1_fold[cp - 0xC0]);
	} else if (cp < 0x180) {
		for (size_t i = 0; i < sizeof(latin_ext_fold) /
			     sizeof(latin_ext_fold[0]); i++)
			if (cp >= latin_ext_fold[i].lo &&
			    cp <= latin_ext_fold[i].hi) {
				unit_ascii(u, U_LETTER, latin_ext_fold[i].to);
				return;
			}
		u->kind = U_SEP;
	} else if (cp >= 0x391 && cp <= 0x3A9) { /* Greek capitals */
		unit_wide(u, U_LETTER, cp + 0x20);
	} else if (cp >= 0x410 && cp <= 0x42F) { /* Cyrillic capitals */
		unit_wide(u, U_LETTER, cp + 0x20);
	} else if (cp >= 0x400 && cp <= 0x40F) {
		unit_wide(u, U_LETTER, cp + 0x50);
	} else if (cp == 0x2019 || cp == 0x2BC) { /* typographic apostrophe */
		u->kind = U_APOS;
	} else if ((cp >= 0x2000 && cp < 0x2C00) ||
		   (cp >= 0x3000 && cp < 0x3040) ||
		   (cp >= 0xFE30 && cp < 0xFE70) || cp >= 0xFFF0) {
		u->kind = U_SEP; /* punctuation, symbols, CJK punctuation */
	} else if ((cp >= 0x3040 && cp < 0x3100) || /* kana */
		   (cp >= 0x3400 && cp < 0xA000) || /* CJK ideographs */
		   (cp >= 0xAC00 && cp < 0xD7B0) || /* Hangul syllables */
		   (cp >= 0xF900 && cp < 0xFB00)) {
		unit_wide(u, U_CJK, cp);
	} else if (cp >= 0xFF01 && cp <= 0xFF5E) { /* full-width ASCII */
		unsigned char c = (unsigned char)(cp - 0xFF01 + 0x21);
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		u->out[0] = c;
		u->len = 1;
		u->kind = (c >= 'a' && c <= 'z') ? U_LETTER
			  : (c >= '0' && c <= '9') ? U_DIGIT : U_SEP;
	} else {
		unit_wide(u, U_LETTER, cp); /* other scripts: kept verbatim */
	}
}

/* Decodes the character at p (p < end). Invalid UTF-8 is one separator byte. */
static void decode(const unsigned char *p, const unsigned char *end,
		   struct unit *u)
{
	unsigned char c = *p;
	u->len = 0;
	u->wide = 0;
	u->advance = 1;
	if (c < 0x80) {
		if (c >= 'A' && c <= 'Z') {
			u->kind = U_LETTER;
			u->out[0] = (unsigned char)(c - 'A' + 'a');
			u->len = 1;
		} else if (c >= 'a' && c <= 'z') {
			u->kind = U_LETTER;
			u->out[0] = c;
			u->len = 1;
		} else if (c >= '0' && c <= '9') {
			u->kind = U_DIGIT;
			u->out[0] = c;
			u->len = 1;
		} else {
			u->kind = c == '\'' ? U_APOS : U_SEP;
		}
		return;
	}
	u->kind = U_SEP;
	size_t n;
	uint32_t cp;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return;
	}
	if ((size_t)(end - p) < n)
		return;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	/* reject overlong forms and surrogates */
	if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return;
	u->advance = n;
	if (n == 4)
		return; /* emoji and rare planes: separators */
	classify_cp(u, cp);
}

/* ---- stop words --------------------------------------------------------- */

/* Sorted (strcmp order) so they can be binary-searched. */
static const char *const stop_words[] = {
	"about", "above", "after", "again", "against", "ah", "all", "also", "am",
	"an", "and", "any", "are", "as", "at", "be", "because", "been",
	"before", "being", "below", "between", "both", "but", "by", "can",
	"could", "did", "do", "does", "doing", "down", "during", "each", "even",
	"ever", "few", "for", "from", "further", "had", "has", "have", "having",
	"he", "her", "here", "hers", "herself", "hey", "hi", "him", "himself",
	"his", "how", "if", "in", "into", "is", "it", "its", "itself", "just",
	"let", "me", "might", "more", "most", "much", "must", "my", "myself",
	"no", "nor", "not", "now", "of", "off", "oh", "ok", "okay", "on",
	"once", "only", "or", "other", "our", "ours", "ourselves", "out",
	"over", "own", "same", "shall", "she", "should", "so", "some", "such",
	"than", "that", "the", "their", "theirs", "them", "themselves", "then",
	"there", "these", "they", "this", "those", "though", "through", "to",
	"too", "um", "under", "until", "up", "upon", "us", "very", "was", "we",
	"were", "what", "when", "where", "whether", "which", "while", "who",
	"whom", "whose", "why", "will", "with", "would", "yeah", "yes", "yet",
	"you", "your", "yours", "yourself", "yourselves",
};

static int cmp_word(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

bool pos_token_is_stop(const char *w, size_t len)
{
	char buf[16];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, w, len);
	buf[len] = '\0';
	return bsearch(buf, stop_words, sizeof(stop_words) / sizeof(*stop_words),
		       sizeof(*stop_words), cmp_word) != NULL;
}

/* ---- Porter stemmer ------------------------------------------------------ */

struct stemmer {
	char *b;
	int k; /* offset of the last letter */
	int j; /* end of the stem after a successful ends() */
};

static bool cons(const struct stemmer *z, int i)
{
	switch (z->b[i]) {
	case 'a': case 'e': case 'i': case 'o': case 'u':
		return false;
	case 'y':
		return i == 0 ? true : !cons(z, i - 1);
	default:
		return true;
	}
}

/* The number of VC sequences in b[0..j]. */
static int measure(const struct stemmer *z)
{
	int n = 0, i = 0;
	for (;;) {
		if (i > z->j)
			return n;
		if (!cons(z, i))
			break;
		i++;
	}
	i++;
	for (;;) {
		for (;;) {
			if (i > z->j)
				return n;
			if (cons(z, i))
				break;
			i++;
		}
		i++;
		n++;
		for (;;) {
			if (i > z->j)
				return n;
			if (!cons(z, i))
				break;
			i++;
		}
		i++;
	}
}

static bool vowel_in_stem(const struct stemmer *z)
{
	for (int i = 0; i <= z->j; i++)
		if (!cons(z, i))
			return true;
	return false;
}

static bool double_cons(const struct stemmer *z, int j)
{
	return j >= 1 && z->b[j] == z->b[j - 1] && cons(z, j);
}

/* consonant-vowel-consonant ending at i, the last not w, x or y */
static bool cvc(const struct stemmer *z, int i)
{
	if (i < 2 || !cons(z, i) || cons(z, i - 1) || !cons(z, i - 2))
		return false;
	char ch = z->b[i];
	return ch != 'w' && ch != 'x' && ch != 'y';
}

static bool ends(struct stemmer *z, const char *s)
{
	int len = (int)strlen(s);
	if (len > z->k + 1 || s[len - 1] != z->b[z->k])
		return false;
	if (memcmp(z->b + z->k - len + 1, s, (size_t)len) != 0)
		return false;
	z->j = z->k - len;
	return true;
}

/* Replaces b[j+1..k] by s. Never lengthens past the original word: every
 * replacement in the algorithm is no longer than the suffix it replaces,
 * except "at"/"bl"/"iz" -> +e and the cvc +e, which refill a letter that
 * step 1b has just removed. */
static void set_to(struct stemmer *z, const char *s)
{
	int len = (int)strlen(s);
	memmove(z->b + z->j + 1, s, (size_t)len);
	z->k = z->j + len;
}

static void replace_if_m(struct stemmer *z, const char *s)
{
	if (measure(z) > 0)
		set_to(z, s);
}

static void step1ab(struct stemmer *z)
{
	if (z->b[z->k] == 's') {
		if (ends(z, "sses"))
			z->k -= 2;
		else if (ends(z, "ies"))
			set_to(z, "i");
		else if (z->k >= 1 && z->b[z->k - 1] != 's')
			z->k--;
	}
	if (ends(z, "eed")) {
		if (measure(z) > 0)
			z->k--;
	} else if ((ends(z, "ed") || ends(z, "ing")) && vowel_in_stem(z)) {
		z->k = z->j;
		if (ends(z, "at"))
			set_to(z, "ate");
		else if (ends(z, "bl"))
			set_to(z, "ble");
		else if (ends(z, "iz"))
			set_to(z, "ize");
		else if (double_cons(z, z->k)) {
			char ch = z->b[z->k];
			if (ch != 'l' && ch != 's' && ch != 'z')
				z->k--;
		} else {
			z->j = z->k;
			if (measure(z) == 1 && cvc(z, z->k))
				set_to(z, "e");
		}
	}
}

static void step1c(struct stemmer *z)
{
	if (ends(z, "y") && vowel_in_stem(z))
		z->b[z->k] = 'i';
}

static void step2(struct stemmer *z)
{
	if (z->k < 1)
		return;
	static const char *const rules[][2] = {
		{"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"},
		{"anci", "ance"}, {"izer", "ize"}, {"bli", "ble"},
		{"alli", "al"}, {"entli", "ent"}, {"eli", "e"},
		{"ousli", "ous"}, {"ization", "ize"}, {"ation", "ate"},
		{"ator", "ate"}, {"alism", "al"}, {"iveness", "ive"},
		{"fulness", "ful"}, {"ousness", "ous"}, {"aliti", "al"},
		{"iviti", "ive"}, {"biliti", "ble"}, {"logi", "log"},
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (ends(z, rules[i][0])) {
			replace_if_m(z, rules[i][1]);
			return;
		}
}

static void step3(struct stemmer *z)
{
	static const char *const rules[][2] = {
		{"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"},
		{"ical", "ic"}, {"ful", ""}, {"ness", ""},
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (ends(z, rules[i][0])) {
			replace_if_m(z, rules[i][1]);
			return;
		}
}

static void step4(struct stemmer *z)
{
	static const char *const suffixes[] = {
		"al", "ance", "ence", "er", "ic", "able", "ible", "ant",
		"ement", "ment", "ent", "ion", "ou", "ism", "ate", "iti",
		"ous", "ive", "ize",
	};
	if (z->k < 1)
		return;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (!ends(z, suffixes[i]))
			continue;
		/* "ion" only after s or t */
		if (strcmp(suffixes[i], "ion") == 0 &&
		    !(z->j >= 0 && (z->b[z->j] == 's' || z->b[z->j] == 't')))
			return;
		if (measure(z) > 1)
			z->k = z->j;
		return;
	}
}

static void step5(struct stemmer *z)
{
	z->j = z->k;
	if (z->b[z->k] == 'e') {
		int a = measure(z);
		if (a > 1 || (a == 1 && !cvc(z, z->k - 1)))
			z->k--;
	}
	if (z->b[z->k] == 'l' && double_cons(z, z->k) && measure(z) > 1)
		z->k--;
}

size_t pos_token_stem(char *w, size_t len)
{
	if (len <= 2)
		return len;
	struct stemmer z = {.b = w, .k = (int)len - 1, .j = 0};
	step1ab(&z);
	if (z.k > 0) {
		step1c(&z);
		step2(&z);
		step3(&z);
		step4(&z);
		step5(&z);
	}
	return (size_t)z.k + 1;
}

/* ---- hashing ------------------------------------------------------------- */

uint64_t pos_token_hash(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return pos_token_mix(h ^ len);
}

/* ---- the tokenizer ------------------------------------------------------- */

void pos_token_iter_init(struct pos_token_iter *it, const char *text,
			 size_t len)
{
	it->p = (const unsigned char *)(text ? text : "");
	it->end = it->p + (text ? len : 0);
}

/* Drops a clitic ("'s", "'ll", "n't", ...) and any other apostrophes. */
static size_t strip_clitics(char *w, size_t len)
{
	char *apos = memchr(w, '\'', len);
	if (apos) {
		size_t at = (size_t)(apos - w);
		const char *tail = apos + 1;
		size_t tl = len - at - 1;
		if (tl == 1 && tail[0] == 't' && at >= 2 && w[at - 1] == 'n') {
			/* n't: "can't" -> "can", "won't" -> "will"; else "do" */
			if (at == 3 && memcmp(w, "won", 3) == 0) {
				memcpy(w, "will", 4);
				return 4;
			}
			if (!(at == 3 && memcmp(w, "can", 3) == 0))
				at--;
			return at;
		}
		if ((tl == 1 && (tail[0] == 's' || tail[0] == 'd' ||
				 tail[0] == 'm')) ||
		    (tl == 2 && (memcmp(tail, "ll", 2) == 0 ||
				 memcmp(tail, "re", 2) == 0 ||
				 memcmp(tail, "ve", 2) == 0)))
			return at;
	}
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (w[i] != '\'')
			w[n++] = w[i];
	return n;
}

bool pos_token_next(struct pos_token_iter *it, struct pos_token *t)
{
	struct unit u;
	while (it->p < it->end) {
		decode(it->p, it->end, &u);
		if (u.kind == U_SEP || u.kind == U_APOS) {
			it->p += u.advance;
			continue;
		}
		t->flags = 0;
		if (u.kind == U_CJK) {
			memcpy(t->word, u.out, u.len);
			t->word_len = u.len;
			t->word[u.len] = '\0';
			memcpy(t->stem, t->word, (size_t)u.len + 1);
			t->stem_len = u.len;
			t->flags = POS_TOKEN_CJK | POS_TOKEN_WIDE;
			it->p += u.advance;
			return true;
		}
		/* a word: letters, digits and inner apostrophes */
		size_t n = 0;
		bool full = false;
		for (;;) {
			if (u.kind == U_LETTER || u.kind == U_DIGIT) {
				if (!full && n + u.len < POS_TOKEN_MAX) {
					memcpy(t->word + n, u.out, u.len);
					n += u.len;
				} else {
					full = true;
				}
				if (u.kind == U_DIGIT)
					t->flags |= POS_TOKEN_DIGIT;
				if (u.wide)
					t->flags |= POS_TOKEN_WIDE;
			} else if (u.kind == U_APOS) {
				/* inner only: a letter must follow */
				struct unit nx;
				const unsigned char *q = it->p + u.advance;
				if (q >= it->end)
					break;
				decode(q, it->end, &nx);
				if (nx.kind != U_LETTER)
					break;
				if (!full && n + 1 < POS_TOKEN_MAX)
					t->word[n++] = '\'';
			} else {
				break; /* separator or CJK ends the word */
			}
			it->p += u.advance;
			if (it->p >= it->end)
				break;
			decode(it->p, it->end, &u);
		}
		n = strip_clitics(t->word, n);
		t->word[n] = '\0';
		t->word_len = n;
		if (n == 0 || (n == 1 && !(t->flags & POS_TOKEN_DIGIT)))
			continue;
		if (!(t->flags & (POS_TOKEN_DIGIT | POS_TOKEN_WIDE)) &&
		    pos_token_is_stop(t->word, n))
			continue;
		memcpy(t->stem, t->word, n + 1);
		t->stem_len = n;
		if (!(t->flags & (POS_TOKEN_DIGIT | POS_TOKEN_WIDE))) {
			t->stem_len = pos_token_stem(t->stem, n);
			t->stem[t->stem_len] = '\0';
		}
		return true;
	}
	return false;
}
