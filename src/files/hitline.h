/*
 * hitline.h — where a search hit matched inside a file (issue 21): the
 * attachment, the page and the line, for search results that say
 * "page 4 · report.pdf" and show the matching line.
 *
 * Extracted text lives in the memory's own content (files/files.h): for a
 * `file` memory after its name line, for any other memory as
 * "\n\n[file: NAME]\n" sections after the memory's own text; a paged
 * document (PDF, slides) carries "[page N]" lines. This module reads that
 * layout back: it finds the line of an attachment's text where most of the
 * query's words and phrases occur, the page marker above it, and the
 * attachment of that name in the memory's `attachments`. It works on the
 * memory as the caller was handed it (opened in memory for an encrypted
 * user), so it never reads anything the caller cannot see, and it stores
 * nothing.
 *
 * Matching approximates FTS5's porter/unicode61 tokenizer: ASCII case is
 * ignored, a word matches at a word start and may run on by a short
 * ending ("budget" finds "budgets", "migrate" finds "migrating"; the word
 * being typed matches any longer word), a phrase matches across runs of
 * space and punctuation. Stop words are left out unless nothing else is
 * left, as in the search itself.
 *
 * Ownership: everything is allocated in the caller's arena.
 * Thread-safety: pure functions; only the arena passed in is written.
 */
#ifndef POS_FILES_HITLINE_H
#define POS_FILES_HITLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/json.h"
#include "store/store.h"

#define POS_HITLINE_CHARS 160   /* characters (code points) of a line shown, "…" included */
#define POS_HITLINE_MARKS 16    /* marked spans in one line at most */
/* Bytes of text one search reads for its matches, over all its hits (at
 * most 200 hits of up to 1 MiB each): past it, later hits get no match. */
#define POS_HITLINE_BUDGET ((size_t)32 << 20)

/* What a query looks for, made once per search by pos_hitline_prepare. */
struct pos_hitline_needles {
	const char **s;       /* ASCII-lower-cased words and phrases */
	size_t *len;
	unsigned char *kind;  /* internal: word, word being typed, phrase */
	size_t n;
	unsigned char first[256]; /* internal: the bytes a needle starts with */
	size_t budget;        /* bytes of text left to read (POS_HITLINE_BUDGET) */
};

struct pos_hitline_mark {
	size_t start, end;    /* code points into `line`, end exclusive */
};

struct pos_hitline {
	const char *attachment_id;
	const char *name;
	unsigned page;        /* 1-based; 0 when the text has no pages */
	const char *line;     /* NUL-terminated; "…" where it was cut */
	struct pos_hitline_mark marks[POS_HITLINE_MARKS];
	size_t n_marks;
};

/*
 * The needles of the search query `q` (`len` bytes, as the client sent it:
 * filters are dropped by the query parser; `typing` as for
 * POS_QUERY_TYPING). A query that does not parse or has no words gives
 * n = 0 (no hit will have a line). POS_OK or POS_ERR_NOMEM.
 */
enum pos_err pos_hitline_prepare(struct pos_arena *a, const char *q, size_t len, bool typing,
				 struct pos_hitline_needles *out);

/*
 * Finds where the needles matched in the text of one of `m`'s attachments
 * (content and attachments as described above). True with *out filled
 * (arena) when a line of an attachment's text holds at least one needle and
 * the attachment is in m->attachments_json; false otherwise (a match in the
 * memory's own text or a file's name line is not a file match), also on
 * NOMEM. The best line has the most distinct needles (a phrase counts
 * twice); the first of equals wins. A line longer than POS_HITLINE_CHARS is
 * cut around its first match. The attachment text read is taken from
 * nd->budget; a memory with more text than is left gets no match.
 */
bool pos_hitline_find(struct pos_arena *a, struct pos_hitline_needles *nd,
		      const struct pos_memory *m, struct pos_hitline *out);

/* Writes the match as the API shows it:
 * {"attachment_id","name","page"(int or null),"line","marks":[[start,end],...]}. */
void pos_hitline_json(struct pos_jw *w, const struct pos_hitline *h);

#endif
