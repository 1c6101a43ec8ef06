/*
 * extract_rules.c — the rule-based extractor: English trigger phrases,
 * dates and times, no model. docs/MEMORIZE.md is the user-facing list of
 * what is recognised; tests/data/extract/ pins each rule.
 *
 * How it works: the input (at most POS_EXTRACT_MAX_SCAN bytes) is first
 * normalised into a matching copy — ASCII lower-cased, typographic quotes
 * and apostrophes made ASCII, control bytes and invalid UTF-8 made spaces —
 * with a map from each byte back to its offset in the input, so that item
 * texts are always cut from the original. The copy is split into sentences;
 * in each, quoted passages are blanked so they match nothing, trigger
 * phrases ("I need to", "remind me to", "my X is") start clauses, and each
 * clause becomes at most one item. Text before the first trigger may be an
 * event ("lunch with Anna on Friday at noon"). Dates and times are read by
 * extract_dates.c. Every loop advances by at
 * least one byte and looks at a bounded window, so the cost is linear in the
 * input.
 */
#include "assistant/extract.h"

#include <stdbool.h>
#include <string.h>

#include "assistant/extract_internal.h"

#define MASK '\x01' /* a byte inside a quotation: never part of a word */

/* ---- items ------------------------------------------------------------------ */

/* Trims n[*lo..*hi): spaces and list punctuation in front; spaces,
 * punctuation and dangling connectors ("and", "but") at the end. */
static void trim(const struct pos_rules_ctx *c, size_t *lo, size_t *hi)
{
	static const char *const conn[] = {"and", "but", "so", "then", "also", "or",
					   "plus", "because", NULL};
	size_t s = *lo, e = *hi;
	while (s < e && (is_sp(c->n[s]) || strchr(",;:-*#>)", c->n[s])))
		s++;
	for (;;) {
		size_t e0 = e;
		while (e > s && (is_sp(c->n[e - 1]) || strchr(",;:-!?(", c->n[e - 1])))
			e--;
		/* a final '.' goes, unless it ends "p.m." */
		while (e > s && c->n[e - 1] == '.' && !(e - s >= 3 && c->n[e - 3] == '.'))
			e--;
		size_t we, ws = prev_word(c, s, e, &we);
		if (we == e && ws < we && ws > s && win(c, ws, we, conn))
			e = ws;
		if (e == e0)
			break;
	}
	*lo = s;
	*hi = e;
}

/* The original text behind n[lo..hi), cleaned; "" when nothing is left. */
static const char *text_of(struct pos_rules_ctx *c, size_t lo, size_t hi, size_t cap, bool upper,
			   bool *nomem)
{
	bool too_long;
	trim(c, &lo, &hi);
	if (lo >= hi)
		return "";
	char *t = pos_extract_clean(c->a, c->orig + c->map[lo], c->map[hi] - c->map[lo], cap,
				    true, &too_long, nomem);
	if (t && upper && t[0] >= 'a' && t[0] <= 'z')
		t[0] = (char)(t[0] - 'a' + 'A');
	return t;
}

static const char *const name_stop[] = {
	"i", "i'm", "i'll", "i've", "today", "tomorrow", "tonight", "next", "this", "on",
	"at", "in", "about", "to", "for", "from", "by", "regarding", "re", "and", "around",
	"before", "after", "until", "till", "over", "via", "later", "soon", "asap", "when",
	"if", "so", "but", "or", "is", "are", "was", "will", "would", "to", "the", NULL};

/* Is n[p..q) a word that cannot be part of a name? */
static bool not_name(const struct pos_rules_ctx *c, size_t p, size_t q)
{
	return win(c, p, q, name_stop) || pos_extract_weekday(c, p, q) >= 0 || pos_extract_month(c, p, q) > 0;
}

/* A name-word at p: letters, apostrophes, hyphens and a title's dot. */
static size_t name_word_end(const struct pos_rules_ctx *c, size_t p, size_t lim)
{
	size_t q = p;
	while (q < lim && (is_wc(c->n[q]) || c->n[q] == '-'))
		q++;
	static const char *const titles[] = {"dr", "mr", "mrs", "ms", "prof", "st", NULL};
	if (q < lim && c->n[q] == '.' && win(c, p, q, titles))
		q++;
	return q;
}

/*
 * Who a clause is with, starting at p: a run of capitalised words ("Anna",
 * "Dr. Lee", "Anna and Bob"), or my/our/the/his/her/their and up to three
 * more words ("my parents"). Returns NULL when there is none.
 */
static const char *who_at(struct pos_rules_ctx *c, size_t p, size_t lim, bool *nomem)
{
	p = skip_sp(c, p, lim);
	size_t q = name_word_end(c, p, lim);
	if (q == p || c->n[p] == '\'' || c->n[p] == '-')
		return NULL;
	size_t end = p;
	static const char *const dets[] = {"my", "our", "the", "his", "her", "their", NULL};
	if (orig_cap(c, p) && !not_name(c, p, q)) {
		int words = 0;
		for (size_t r = p; words < 5;) {
			size_t re = name_word_end(c, r, lim);
			if (re == r || !orig_cap(c, r) || not_name(c, r, re))
				break;
			end = re;
			words++;
			size_t s = skip_sp(c, re, lim), se = word_end(c, s, lim);
			if (s < lim && c->n[s] == '&')
				se = s + 1;
			if (se > s && (weq(c, s, se, "and") || c->n[s] == '&')) {
				size_t t = skip_sp(c, se, lim), te = name_word_end(c, t, lim);
				if (te == t || !orig_cap(c, t) || not_name(c, t, te))
					break;
				r = t;
			} else if (s > re || s == lim) {
				r = s;
			} else {
				break;
			}
		}
	} else if (win(c, p, q, dets)) {
		end = q;
		size_t r = q;
		for (int words = 0; words < 3; words++) {
			size_t s = skip_sp(c, r, lim), se = word_end(c, s, lim);
			if (se == s || s == r || is_digit(c->n[s]) || not_name(c, s, se))
				break;
			end = se;
			r = se;
		}
		if (end == q)
			return NULL;
	} else {
		return NULL;
	}
	if (end > p + 1 && c->n[end - 1] == 's' && c->n[end - 2] == '\'')
		end -= 2;
	bool too_long;
	char *t = pos_extract_clean(c->a, c->orig + c->map[p], c->map[end] - c->map[p],
				    POS_EXTRACT_MAX_WHO, true, &too_long, nomem);
	return t && t[0] ? t : NULL;
}

static const char *const event_nouns[] = {
	"meeting", "meet", "appointment", "appt", "lunch", "dinner", "breakfast", "brunch",
	"coffee", "drinks", "interview", "flight", "party", "conference", "class", "exam",
	"wedding", "concert", "presentation", "demo", "standup", "stand-up", "session",
	"webinar", "checkup", "check-up", "dentist", "doctor", "workshop", "seminar",
	"training", "sync", "reservation", "haircut", "call", NULL};

/* The first event word in n[lo..hi): its position, or hi. "call" counts only
 * as a noun: "a/the/phone/video call" or "call with". */
static size_t find_event(const struct pos_rules_ctx *c, size_t lo, size_t hi, size_t *wend)
{
	static const char *const call_before[] = {"a", "the", "phone", "video", "zoom",
						  "conference", "team", "sales", "our", "my",
						  NULL};
	for (size_t p = lo; p < hi; p++) {
		if (!is_alpha(c->n[p]) || (p > lo && is_wc(c->n[p - 1])))
			continue;
		size_t q = word_end(c, p, hi);
		if (q < hi && c->n[q] == '-' && q + 1 < hi && is_alpha(c->n[q + 1]))
			q = word_end(c, q + 1, hi); /* stand-up */
		if (win(c, p, q, event_nouns)) {
			if (weq(c, p, q, "call")) {
				size_t pe, pw = prev_word(c, lo, p, &pe);
				size_t n = skip_sp(c, q, hi), ne = word_end(c, n, hi);
				if (!(pw < pe && win(c, pw, pe, call_before)) && !weq(c, n, ne, "with")) {
					p = q;
					continue;
				}
			}
			*wend = q;
			return p;
		}
		p = q;
	}
	return hi;
}

/* Who an event is with: after "with", else a name right after meet(ing). */
static const char *event_who(struct pos_rules_ctx *c, size_t lo, size_t hi, size_t ev, size_t evend,
			     bool *nomem)
{
	for (size_t p = lo; p + 4 <= hi; p++) {
		if ((p == lo || !is_wc(c->n[p - 1])) && starts(c, p, hi, "with "))
			return who_at(c, p + 5, hi, nomem);
	}
	if (ev < hi && (weq(c, ev, evend, "meet") || weq(c, ev, evend, "meeting"))) {
		size_t s = skip_sp(c, evend, hi);
		if (s < hi && orig_cap(c, s))
			return who_at(c, s, hi, nomem);
	}
	return NULL;
}

/* An event in n[lo..hi): an event word and a date or time, no past marker. */
static enum pos_err try_event(struct pos_rules_ctx *c, size_t lo, size_t hi, size_t offset_at,
			      bool *made)
{
	size_t evend, ev = find_event(c, lo, hi, &evend);
	struct pos_when w;
	int64_t start, end;
	bool nomem = false;
	*made = false;
	if (ev >= hi)
		return POS_OK;
	trim(c, &lo, &hi);
	offset_at = lo;
	pos_extract_scan_when(c, lo, hi, &w);
	pos_extract_resolve(c, &w, &start, &end);
	if (w.past || start == POS_TIME_NONE)
		return POS_OK;
	const char *text = text_of(c, lo, hi, POS_EXTRACT_MAX_TEXT, true, &nomem);
	const char *who = nomem ? NULL : event_who(c, lo, hi, ev, evend, &nomem);
	if (nomem)
		return POS_ERR_NOMEM;
	*made = text[0] != '\0';
	return pos_extract_add(&c->b, POS_EXTRACT_EVENT, text, start, end, who,
			       c->map[offset_at]);
}

/* Does n[lo..hi) hold an event word and a date or time? */
static bool has_event(const struct pos_rules_ctx *c, size_t lo, size_t hi)
{
	size_t evend;
	struct pos_when w;
	int64_t start, end;
	if (find_event(c, lo, hi, &evend) >= hi)
		return false;
	pos_extract_scan_when(c, lo, hi, &w);
	pos_extract_resolve(c, &w, &start, &end);
	return !w.past && start != POS_TIME_NONE;
}

/*
 * Events in n[lo..hi), which may list several: "a dentist appointment on
 * Thursday at 2pm and lunch with Laura on Friday at noon". The text is cut
 * at "and", "," and ";" into pieces; a piece with an event word starts a new
 * event when the text before it already is a complete one. At most 16
 * pieces are looked at; the rest joins the last event.
 */
static enum pos_err events_in(struct pos_rules_ctx *c, size_t lo, size_t hi, bool *made)
{
	size_t cur = lo, piece = lo;
	int pieces = 0;
	bool one;
	enum pos_err rc;
	*made = false;
	for (size_t p = lo; p < hi && pieces < 16; p++) {
		size_t cut = 0, next = 0;
		if (c->n[p] == ',' || c->n[p] == ';') {
			cut = p;
			next = p + 1;
		} else if (is_alpha(c->n[p]) && (p == lo || !is_wc(c->n[p - 1]))) {
			size_t q = word_end(c, p, hi);
			if (weq(c, p, q, "and")) {
				cut = p;
				next = q;
			}
			p = q > p ? q - 1 : p;
		}
		if (!next)
			continue;
		/* the piece before this cut is [piece, cut) */
		pieces++;
		size_t evend;
		if (piece > cur && find_event(c, piece, cut, &evend) < cut &&
		    has_event(c, cur, piece)) {
			if ((rc = try_event(c, cur, piece, cur, &one)))
				return rc;
			*made |= one;
			cur = piece;
		}
		piece = next;
	}
	size_t evend;
	if (piece > cur && find_event(c, piece, hi, &evend) < hi && has_event(c, cur, piece) &&
	    has_event(c, piece, hi)) {
		if ((rc = try_event(c, cur, piece, cur, &one)))
			return rc;
		*made |= one;
		cur = piece;
	}
	rc = try_event(c, cur, hi, cur, &one);
	*made |= one;
	return rc;
}

/* ---- triggers ----------------------------------------------------------------- */

enum mode {
	M_STRIP,   /* the item is what follows the phrase: "I need to X" -> "X" */
	M_KEEP,    /* the item is the whole clause: "Follow up with Bob" */
	M_WILL,    /* "I'll X": a task only with a date or time */
	M_FACT,    /* a fact, whole clause; only at the start of a clause */
	M_MY,      /* "my X is Y": a fact (or an event with a date) */
	M_PREF,    /* "I like X": a fact unless X is "it", "you" ... */
};

struct trigger {
	const char *pat;
	enum pos_extract_kind kind;
	enum mode mode;
};

/* Longer phrases before their prefixes: the first match at a position wins. */
static const struct trigger triggers[] = {
	{"i need to ", POS_EXTRACT_TASK, M_STRIP},
	{"i have to ", POS_EXTRACT_TASK, M_STRIP},
	{"i have got to ", POS_EXTRACT_TASK, M_STRIP},
	{"i've got to ", POS_EXTRACT_TASK, M_STRIP},
	{"i gotta ", POS_EXTRACT_TASK, M_STRIP},
	{"i must ", POS_EXTRACT_TASK, M_STRIP},
	{"i should ", POS_EXTRACT_TASK, M_STRIP},
	{"i ought to ", POS_EXTRACT_TASK, M_STRIP},
	{"todo:", POS_EXTRACT_TASK, M_STRIP},
	{"to-do:", POS_EXTRACT_TASK, M_STRIP},
	{"to do:", POS_EXTRACT_TASK, M_STRIP},
	{"todo ", POS_EXTRACT_TASK, M_STRIP},
	{"remember to ", POS_EXTRACT_TASK, M_STRIP},
	{"i'll ", POS_EXTRACT_TASK, M_WILL},
	{"i will ", POS_EXTRACT_TASK, M_WILL},
	{"follow up", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"follow-up", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"followup", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"remind me to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"remind me about ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"remind me that ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"remind me ", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"get back to ", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"don't forget to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"don't forget about ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"don't let me forget to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"dont forget to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"do not forget to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"my ", POS_EXTRACT_FACT, M_MY},
	{"i am ", POS_EXTRACT_FACT, M_FACT},
	{"i'm ", POS_EXTRACT_FACT, M_FACT},
	{"i live in ", POS_EXTRACT_FACT, M_FACT},
	{"i work at ", POS_EXTRACT_FACT, M_FACT},
	{"i work as ", POS_EXTRACT_FACT, M_FACT},
	{"i work for ", POS_EXTRACT_FACT, M_FACT},
	{"i work in ", POS_EXTRACT_FACT, M_FACT},
	{"i like ", POS_EXTRACT_FACT, M_PREF},
	{"i love ", POS_EXTRACT_FACT, M_PREF},
	{"i prefer ", POS_EXTRACT_FACT, M_PREF},
	{"i enjoy ", POS_EXTRACT_FACT, M_PREF},
	{"i hate ", POS_EXTRACT_FACT, M_PREF},
	{"i dislike ", POS_EXTRACT_FACT, M_PREF},
	{"i don't like ", POS_EXTRACT_FACT, M_PREF},
	{"i was born ", POS_EXTRACT_FACT, M_FACT},
};
#define N_TRIGGERS (sizeof(triggers) / sizeof(triggers[0]))

/* Words after which a phrase does not state anything: "if I need to",
 * "what I need to", "do I have to". */
static const char *const blockers[] = {
	"if", "whether", "unless", "when", "what", "why", "how", "where", "who", "which",
	"do", "does", "did", "than", "whatever", "wonder", "asked", "said", "says", "told",
	"tells", "me", "he", "she", "they", "we", "you", NULL};

/* Words that start a clause ("... and I live in Rome"), and words that may
 * stand before a fact phrase at the start of one ("Oh, ...", "Yes my ..."). */
static const char *const connectors[] = {
	"and", "but", "also", "so", "btw", "then", "plus", "anyway", "actually", "because",
	"since", "fyi", NULL};
static const char *const interjections[] = {
	"oh", "well", "ok", "okay", "yes", "yeah", "no", "hi", "hello", "hey", NULL};

/* "I'm X" is a fact only for these X (or a capitalised word or a number). */
static const char *const iam_ok[] = {
	"a", "an", "from", "allergic", "vegetarian", "vegan", "married", "single",
	"divorced", "engaged", "widowed", "retired", "pregnant", "originally", "based",
	"left-handed", "right-handed", "lactose", "gluten", "diabetic", "colorblind",
	"into", "born", NULL};

/* "I'm a X" is no fact for these X. */
static const char *const a_not[] = {"bit", "little", "lot", "tad", NULL};

/* "I like X" is no fact for these X: the object is in the conversation. */
static const char *const like_not[] = {
	"it", "that", "this", "these", "those", "them", "you", "your", "him", "her", "how",
	"what", "when", "where", "which", NULL};

/* "my X is" is no fact for these X: conversation, not the user. */
static const char *const my_not[] = {
	"question", "point", "guess", "answer", "thought", "thoughts", "thinking",
	"understanding", "impression", "feeling", "take", "bad", "pleasure", "turn",
	"fault", "concern", "problem", "issue", "idea", "suggestion", "request", "reply",
	"response", "message", "comment", "apologies", NULL};

/* "I need to X" (and the other "I ..." task phrases) is no task for these X. */
static const char *const task_not[] = {
	"know", "say", "admit", "mention", "confess", "agree", "disagree", "warn", "thank",
	"apologize", "apologise", NULL};

/* "I'll X" is no task for these X. */
static const char *const will_not[] = {
	"be", "have", "probably", "maybe", "never", "not", "try", "think", "see", "let",
	"just", "tell", "take", "get", "need", "want", "miss", "bet", NULL};

/* Is p the start of a clause: the sentence start, after , ; : - ( " or a
 * connector ("and", "but"), or after up to three interjections that are? */
static bool clause_start(const struct pos_rules_ctx *c, size_t lo, size_t p)
{
	for (int k = 0; k < 4; k++) {
		size_t q = p;
		while (q > lo && is_sp(c->n[q - 1]))
			q--;
		if (q == lo || strchr(",;:-(\"", c->n[q - 1]) || c->n[q - 1] == '.')
			return true;
		size_t pe, pw = prev_word(c, lo, p, &pe);
		if (pw < pe && win(c, pw, pe, connectors))
			return true;
		if (!(pw < pe && win(c, pw, pe, interjections)))
			return false;
		p = pw;
	}
	return false;
}

/* Does the trigger t at p (body at b) apply here? */
static bool trigger_ok(const struct pos_rules_ctx *c, const struct trigger *t, size_t lo, size_t p,
		       size_t b, size_t hi)
{
	size_t pe, pw = prev_word(c, lo, p, &pe);
	if (pw < pe && win(c, pw, pe, blockers) && strncmp(t->pat, "remind me", 9) != 0)
		return false;
	size_t q = word_end(c, b, hi);
	switch (t->mode) {
	case M_FACT:
		if (!clause_start(c, lo, p))
			return false;
		if (strcmp(t->pat, "i am ") == 0 || strcmp(t->pat, "i'm ") == 0) {
			if (q == b)
				return false;
			if (weq(c, b, q, "a")) { /* "I'm a bit tired" */
				size_t s = skip_sp(c, q, hi), se = word_end(c, s, hi);
				return !win(c, s, se, a_not);
			}
			if (win(c, b, q, iam_ok) || is_digit(c->n[b]))
				return true;
			return orig_cap(c, b) && !not_name(c, b, q);
		}
		return q > b;
	case M_PREF:
		return clause_start(c, lo, p) && q > b && !win(c, b, q, like_not);
	case M_MY: {
		if (!clause_start(c, lo, p))
			return false;
		/* "my X is Y", "my X are Y" with X at most five words */
		if (win(c, b, q, my_not))
			return false;
		size_t r = b;
		for (int words = 0; words < 6 && r < hi; words++) {
			size_t s = skip_sp(c, r, hi), se = word_end(c, s, hi);
			if (se == s)
				return false;
			if (words > 0 && (weq(c, s, se, "is") || weq(c, s, se, "are"))) {
				size_t v = skip_sp(c, se, hi);
				return v < hi && is_wc(c->n[v]);
			}
			r = se;
		}
		return false;
	}
	case M_WILL:
		return q > b && !win(c, b, q, will_not);
	case M_KEEP:
		if (strcmp(t->pat, "get back to ") == 0) {
			static const char *const dets[] = {"my", "the", "our", NULL};
			return q > b && (orig_cap(c, b) || win(c, b, q, dets)) &&
			       !not_name(c, b, q);
		}
		if (strcmp(t->pat, "remind me ") == 0) {
			/* "remind me to" with nothing after it is no request */
			static const char *const longer[] = {"to", "about", "that", NULL};
			return q > b && !win(c, b, q, longer);
		}
		return true;
	case M_STRIP:
		if (t->pat[0] == 'i' && t->pat[1] == ' ') {
			if (win(c, b, q, task_not))
				return false;
			/* "I have to ask you / tell you ..." is talk, not a task */
			size_t s = skip_sp(c, q, hi), se = word_end(c, s, hi);
			if ((weq(c, b, q, "ask") || weq(c, b, q, "tell")) && weq(c, s, se, "you"))
				return false;
		}
		/* "I should have called" is a regret, not a task */
		if ((strcmp(t->pat, "i should ") == 0 || strcmp(t->pat, "i must ") == 0 ||
		     strcmp(t->pat, "i ought to ") == 0) && weq(c, b, q, "have"))
			return false;
		/* "todo" without a colon only starts a clause ("the todo list") */
		if (strcmp(t->pat, "todo ") == 0)
			return clause_start(c, lo, p);
		return true;
	}
	return false;
}

struct hit {
	size_t at, body;
	const struct trigger *t;
};

/* Is the sentence a question? Ends in '?', or starts "do I", "should we"... */
static bool is_question(const struct pos_rules_ctx *c, size_t lo, size_t hi)
{
	static const char *const aux[] = {"do", "does", "did", "should", "shall", "can",
					  "could", "would", "will", "is", "are", "am",
					  "have", "has", "must", "may", "was", "were", NULL};
	static const char *const subj[] = {"i", "you", "we", "he", "she", "they", "it",
					   "my", "there", NULL};
	size_t e = hi;
	while (e > lo && (is_sp(c->n[e - 1]) || c->n[e - 1] == '"' || c->n[e - 1] == ')'))
		e--;
	for (size_t k = e; k > lo && strchr("?!.", c->n[k - 1]); k--)
		if (c->n[k - 1] == '?')
			return true;
	size_t s = skip_sp(c, lo, hi), se = word_end(c, s, hi);
	size_t t = skip_sp(c, se, hi), te = word_end(c, t, hi);
	return win(c, s, se, aux) && win(c, t, te, subj);
}

/* Blanks quoted passages ("...", straight or typographic) of a line, their
 * punctuation included, so that they neither match nor split sentences. */
static void mask_quotes(struct pos_rules_ctx *c, size_t lo, size_t hi)
{
	for (size_t p = lo; p < hi; p++) {
		if (c->n[p] != '"')
			continue;
		size_t q = p + 1;
		while (q < hi && c->n[q] != '"')
			q++;
		if (q == hi)
			return;
		memset(c->n + p + 1, MASK, q - p - 1);
		p = q;
	}
}

/* Makes an item of the clause of hit h, ending at hi. */
static enum pos_err clause_item(struct pos_rules_ctx *c, const struct hit *h, size_t hi,
				const struct pos_when *lead, size_t sent_lo)
{
	const struct trigger *t = h->t;
	struct pos_when w;
	int64_t when, end;
	bool nomem = false;
	const char *text, *who = NULL;
	pos_extract_scan_when(c, h->at, hi, &w);
	pos_extract_resolve(c, &w, &when, &end);
	if (when == POS_TIME_NONE && lead && !w.past)
		pos_extract_resolve(c, lead, &when, &end);
	if (t->kind == POS_EXTRACT_FACT) {
		if (t->mode == M_MY) {
			size_t evend, ev = find_event(c, h->body, hi, &evend);
			if (ev < hi && when != POS_TIME_NONE && !w.past) {
				bool made;
				return try_event(c, h->at, hi, h->at, &made);
			}
		}
		text = text_of(c, h->at, hi, POS_EXTRACT_MAX_TEXT, true, &nomem);
		if (nomem)
			return POS_ERR_NOMEM;
		return pos_extract_add(&c->b, POS_EXTRACT_FACT, text, POS_TIME_NONE,
				       POS_TIME_NONE, NULL, c->map[h->at]);
	}
	if (t->mode == M_WILL && (when == POS_TIME_NONE || w.past))
		return POS_OK;
	(void)sent_lo;
	text = text_of(c, t->mode == M_KEEP ? h->at : h->body, hi, POS_EXTRACT_MAX_TEXT, true,
		       &nomem);
	if (!nomem && t->kind == POS_EXTRACT_FOLLOWUP) {
		if (starts(c, h->at, hi, "get back to "))
			who = who_at(c, h->body, hi, &nomem);
		else if (t->mode == M_KEEP && !starts(c, h->at, hi, "remind me ")) {
			size_t s = skip_sp(c, h->body, hi);
			if (starts(c, s, hi, "with "))
				who = who_at(c, s + 5, hi, &nomem);
		}
	}
	if (nomem)
		return POS_ERR_NOMEM;
	return pos_extract_add(&c->b, t->kind, text, when, POS_TIME_NONE, who, c->map[h->at]);
}

#define MAX_HITS 64

/* Finds up to MAX_HITS triggers in n[from..hi) of the sentence n[lo..hi). */
static size_t find_hits(const struct pos_rules_ctx *c, size_t lo, size_t from, size_t hi,
			bool question, struct hit *hits)
{
	size_t nh = 0, min_at = from;
	for (size_t p = from; p < hi && nh < MAX_HITS; p++) {
		if (!is_wc(c->n[p]) || (p > lo && is_wc(c->n[p - 1])) || p < min_at)
			continue;
		for (size_t k = 0; k < N_TRIGGERS; k++) {
			const struct trigger *t = &triggers[k];
			if (!starts(c, p, hi, t->pat))
				continue;
			size_t b = skip_sp(c, p + strlen(t->pat), hi);
			if (!trigger_ok(c, t, lo, p, b, hi))
				continue;
			if (question) {
				/* "Can you remind me to ...?" is a request, not a question */
				size_t pe, pw = prev_word(c, lo, p, &pe);
				if (strncmp(t->pat, "remind me", 9) != 0 || pw == pe ||
				    !(weq(c, pw, pe, "you") || weq(c, pw, pe, "please")))
					continue;
			}
			hits[nh++] = (struct hit){p, b, t};
			min_at = b;
			break;
		}
	}
	return nh;
}

static enum pos_err sentence(struct pos_rules_ctx *c, size_t lo, size_t hi)
{
	enum pos_err rc;
	bool question = is_question(c, lo, hi);
	struct hit hits[MAX_HITS];

	size_t nh = find_hits(c, lo, lo, hi, question, hits);
	if (question && nh == 0)
		return POS_OK;

	/* the text before the first trigger: an event, or a date for it */
	size_t lead_end = nh ? hits[0].at : hi;
	struct pos_when lead;
	bool have_lead = false, made = false;
	if (!question) {
		if ((rc = events_in(c, lo, lead_end, &made)))
			return rc;
		if (!made && nh) {
			pos_extract_scan_when(c, lo, lead_end, &lead);
			have_lead = !lead.past;
		}
	}
	/* clause by clause; a sentence with more triggers than fit is taken in
	 * chunks, the last hit of a full chunk starting the next one */
	for (size_t i = 0; nh && !pos_extract_builder_full(&c->b);) {
		if (nh == MAX_HITS && i == MAX_HITS - 1) {
			size_t from = hits[i].at;
			nh = find_hits(c, lo, from, hi, question, hits);
			i = 0;
			continue;
		}
		size_t end = i + 1 < nh ? hits[i + 1].at : hi;
		if ((rc = clause_item(c, &hits[i], end, have_lead ? &lead : NULL, lo)))
			return rc;
		have_lead = false;
		if (++i == nh)
			break;
	}
	return POS_OK;
}

/* ---- normalising and splitting -------------------------------------------- */

static enum pos_err normalise(struct pos_rules_ctx *c, const char *in, size_t len)
{
	c->n = pos_arena_alloc(c->a, len + 1);
	c->map = pos_arena_alloc(c->a, (len + 1) * sizeof(*c->map));
	if (!c->n || !c->map)
		return POS_ERR_NOMEM;
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		unsigned char b = s[i];
		if (b < 0x80) {
			char ch = (char)b;
			if (b >= 'A' && b <= 'Z')
				ch = (char)(b - 'A' + 'a');
			else if (b == '\n' || b == '\r')
				ch = '\n';
			else if (b < 0x20 || b == 0x7F)
				ch = ' ';
			c->n[o] = ch;
			c->map[o++] = i++;
			continue;
		}
		uint32_t cp;
		size_t k = pos_extract_utf8(s + i, len - i, &cp);
		char rep = 0;
		if (k == 0) {
			rep = ' ';
			k = 1;
		} else if (cp == 0x2018 || cp == 0x2019 || cp == 0x02BC) {
			rep = '\'';
		} else if (cp == 0x201C || cp == 0x201D || cp == 0x201E) {
			rep = '"';
		} else if (cp == 0x2013 || cp == 0x2014) {
			rep = '-';
		} else if (cp == 0x2026) {
			rep = '.';
		} else if (cp == 0x2028 || cp == 0x2029) {
			rep = '\n';
		} else if (cp <= 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) ||
			   cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF) {
			rep = ' ';
		}
		if (rep) {
			c->n[o] = rep;
			c->map[o++] = i;
		} else {
			for (size_t j = 0; j < k; j++) {
				c->n[o] = (char)s[i + j];
				c->map[o++] = i + j;
			}
		}
		i += k;
	}
	c->n[o] = '\0';
	c->map[o] = len;
	c->len = o;
	return POS_OK;
}

/*
 * In a transcript only the user's words count: a line starting with
 * "Assistant:", "AI:", "Bot:", "Chatbot:", "Model:" or "System:" and the
 * lines after it, up to a line starting with "User:", "Human:" or "Me:", are
 * blanked (newlines kept).
 */
static void mask_other_turns(struct pos_rules_ctx *c)
{
	static const char *const others[] = {"assistant", "ai", "bot", "chatbot", "model",
					     "system", NULL};
	static const char *const users[] = {"user", "human", "me", NULL};
	bool skipping = false;
	for (size_t p = 0; p < c->len; p++) {
		if (p > 0 && c->n[p - 1] != '\n')
			continue;
		size_t s = p;
		while (s < c->len && (c->n[s] == ' ' || c->n[s] == '\t'))
			s++;
		size_t e = word_end(c, s, c->len);
		if (e > s && e < c->len && c->n[e] == ':') {
			if (win(c, s, e, others))
				skipping = true;
			else if (win(c, s, e, users))
				skipping = false;
		}
		if (!skipping)
			continue;
		while (p < c->len && c->n[p] != '\n')
			c->n[p++] = MASK;
	}
}

/* Does the '.' at p end a sentence? Not after "Dr", an initial or "p.m". */
static bool full_stop(const struct pos_rules_ctx *c, size_t lo, size_t p)
{
	static const char *const abbr[] = {"mr", "mrs", "ms", "dr", "st", "prof", "jr", "sr",
					   "vs", "etc", "approx", "no", "ca", "cf", "jan", "feb",
					   "mar", "apr", "jun", "jul", "aug", "sep", "sept",
					   "oct", "nov", "dec", "mon", "tue", "tues", "wed",
					   "thu", "thur", "thurs", "fri", "sat", "sun", NULL};
	if (p + 1 < c->len && !is_sp(c->n[p + 1]) && c->n[p + 1] != '"' && c->n[p + 1] != ')' &&
	    c->n[p + 1] != '.')
		return false; /* 3.5, example.com */
	size_t q = p;
	while (q > lo && is_alpha(c->n[q - 1]))
		q--;
	if (p - q == 1 && q > lo && c->n[q - 1] == '.')
		return false; /* a.m. p.m. e.g. i.e. U.S. */
	if (q > lo && is_digit(c->n[q - 1]))
		return true; /* "the 31st." is no street */
	return !win(c, q, p, abbr);
}

enum pos_err pos_extract_rules(struct pos_arena *a, const char *text, size_t len,
			       int64_t now_us, int tz_offset_min, size_t max,
			       struct pos_extract_result *out)
{
	struct pos_rules_ctx c = {.a = a, .orig = text, .now_us = now_us};
	enum pos_err rc;
	out->items = NULL;
	out->n = 0;
	if (!text)
		len = 0;
	if (len > POS_EXTRACT_MAX_SCAN)
		len = POS_EXTRACT_MAX_SCAN;
	if (tz_offset_min > 18 * 60)
		tz_offset_min = 18 * 60;
	if (tz_offset_min < -18 * 60)
		tz_offset_min = -18 * 60;
	/* keep the arithmetic far from overflow: years 1900..9999 */
	if (now_us < INT64_C(-2208988800000000))
		now_us = INT64_C(-2208988800000000);
	if (now_us > INT64_C(253402300799000000))
		now_us = INT64_C(253402300799000000);
	c.now_us = now_us;
	c.tz_s = (int64_t)tz_offset_min * 60;
	int64_t local = now_us / 1000000 - (now_us % 1000000 < 0) + c.tz_s;
	c.today = local / 86400 - (local % 86400 < 0);
	c.wday = (int)(((c.today % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	pos_extract_builder_init(&c.b, a, max);
	if (c.b.max == 0)
		return POS_OK;
	if ((rc = normalise(&c, text ? text : "", len)))
		return rc;
	mask_other_turns(&c);
	for (size_t p = 0, line = 0; p <= c.len; p++) {
		if (p == c.len || c.n[p] == '\n') {
			mask_quotes(&c, line, p);
			line = p + 1;
		}
	}

	size_t lo = 0, p = 0;
	while (!pos_extract_builder_full(&c.b)) {
		size_t end, next;
		if (p >= c.len) {
			if (c.len > lo && (rc = sentence(&c, lo, c.len)))
				goto fail;
			break;
		}
		if (c.n[p] == '\n') {
			end = p;
			next = p + 1;
		} else if (c.n[p] == '!' || c.n[p] == '?' ||
			   (c.n[p] == '.' && full_stop(&c, lo, p))) {
			size_t q = p;
			while (q < c.len && (c.n[q] == '!' || c.n[q] == '?' || c.n[q] == '.'))
				q++;
			end = next = q;
		} else {
			p++;
			continue;
		}
		if (end > lo && (rc = sentence(&c, lo, end)))
			goto fail;
		lo = p = next;
	}
	out->items = c.b.items;
	out->n = c.b.n;
	return POS_OK;
fail:
	out->items = NULL;
	out->n = 0;
	return rc;
}

int64_t pos_extract_first_date(struct pos_arena *a, const char *text, size_t len,
			       int64_t now_us, int tz_offset_min)
{
	struct pos_rules_ctx c = {.a = a, .orig = text, .now_us = now_us};
	if (!text)
		return POS_TIME_NONE;
	if (len > POS_EXTRACT_MAX_SCAN)
		len = POS_EXTRACT_MAX_SCAN;
	if (tz_offset_min > 18 * 60 || tz_offset_min < -18 * 60)
		tz_offset_min = 0;
	if (now_us < INT64_C(-2208988800000000))
		now_us = INT64_C(-2208988800000000);
	if (now_us > INT64_C(253402300799000000))
		now_us = INT64_C(253402300799000000);
	c.now_us = now_us;
	c.tz_s = (int64_t)tz_offset_min * 60;
	int64_t local = now_us / 1000000 - (now_us % 1000000 < 0) + c.tz_s;
	c.today = local / 86400 - (local % 86400 < 0);
	c.wday = (int)(((c.today % 7) + 11) % 7);
	if (normalise(&c, text, len))
		return POS_TIME_NONE;
	/* sentence by sentence, as the extractor reads them */
	for (size_t lo = 0, p = 0; lo < c.len;) {
		size_t end;
		if (p >= c.len) {
			end = c.len;
		} else if (c.n[p] == '\n' || c.n[p] == '!' || c.n[p] == '?' ||
			   (c.n[p] == '.' && full_stop(&c, lo, p))) {
			end = p;
		} else {
			p++;
			continue;
		}
		struct pos_when w;
		pos_extract_scan_when(&c, lo, end, &w);
		if (w.has_date || w.has_abs) {
			int64_t start, stop;
			pos_extract_resolve(&c, &w, &start, &stop);
			if (start != POS_TIME_NONE)
				return start;
		}
		lo = p = end + 1;
	}
	return POS_TIME_NONE;
}
