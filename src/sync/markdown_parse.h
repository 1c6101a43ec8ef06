/*
 * markdown_parse.h — the hand-written parsers of the markdown_dir adapter:
 * a YAML-ish front matter block (only what notes apps write: `key: value`
 * lines, `tags: [a, b]`, `tags: a, b` or a `- item` list, quoted strings),
 * inline `#tags`, and `[[wiki links]]` with `|alias` and `#heading` cut off.
 * Not a YAML parser: anything else in the front matter is ignored.
 *
 * Everything is bounded (sizes below) and takes bytes, not C strings (a
 * note may hold NULs). Fuzzed by tests/fuzz/fuzz_markdown.c. Pure functions,
 * thread-safe.
 */
#ifndef POS_SYNC_MARKDOWN_PARSE_H
#define POS_SYNC_MARKDOWN_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_MDP_MAX_FRONT 65536  /* bytes of front matter looked at */
#define POS_MDP_MAX_TAGS 32      /* tags per note (front matter + inline) */
#define POS_MDP_MAX_TAG 64       /* bytes per tag */
#define POS_MDP_MAX_LINKS 256    /* wiki links per note */
#define POS_MDP_MAX_LINK 512     /* bytes per link target */
#define POS_MDP_MAX_TITLE 256

struct pos_mdp_note {
	char tags[POS_MDP_MAX_TAGS][POS_MDP_MAX_TAG + 1];
	size_t n_tags;
	bool has_date;
	int64_t date_us;             /* `date:` or `created:` (date wins) */
	char title[POS_MDP_MAX_TITLE + 1]; /* `title:`, "" when none */
	size_t body_off;             /* first byte after the front matter */
};

/*
 * Parses the front matter of data[0..len) when it starts with a `---`
 * line (a UTF-8 BOM before it is allowed) closed by `---` or `...`;
 * without one, body_off is 0 and nothing is set. Tags are trimmed, lose a
 * leading '#', must be 1..64 bytes without spaces or control characters
 * (others are dropped); duplicates are dropped. Dates: RFC 3339, a bare
 * date, or "YYYY-MM-DD HH:MM[:SS]" (UTC). Never fails: what it cannot read
 * it leaves out. `out` is fully initialised.
 */
void pos_mdp_front_matter(const char *data, size_t len, struct pos_mdp_note *out);

/*
 * Adds the inline #tags of the body data[0..len) to out->tags (same rules
 * and cap; not inside fenced code blocks or `code spans`; a tag needs a
 * non-digit, so "#1" is not one; headings "# x" are not tags).
 */
void pos_mdp_inline_tags(const char *data, size_t len, struct pos_mdp_note *out);

/*
 * Calls fn(target, target_len, ud) for each [[wiki link]] (and ![[embed]])
 * of data[0..len), in order, up to POS_MDP_MAX_LINKS: the target is the
 * text before '|' and '#', trimmed, non-empty, at most POS_MDP_MAX_LINK
 * bytes, on one line. fn returns false to stop early.
 */
void pos_mdp_links(const char *data, size_t len,
		   bool (*fn)(const char *target, size_t n, void *ud), void *ud);

#endif
