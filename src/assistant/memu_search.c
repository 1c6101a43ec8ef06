/*
 * memu_search.c — MemU's retrieval mapped to the user's own memories for
 * the search engine (memu_search.h).
 */
#include "assistant/memu_search.h"

#include <string.h>

#include "assistant/memu.h"
#include "base/clock.h"
#include "base/log.h"

#define MAP_WORDS 24           /* words of an item's text searched for */
#define MAP_BYTES 512

bool pos_memu_search_extra(struct pos_assistant *as, const char *tier,
			   struct pos_search_extra *x)
{
	if (!as->memu_search || !tier || strcmp(tier, "cloud") != 0)
		return false;
	x->fn = pos_memu_search_retrieve;
	x->ctx = as;
	return true;
}

/* The item's words (letters, digits, any non-ASCII character; at most
 * MAP_WORDS) as a plain query, so that nothing in MemU's text reads as a
 * filter. The text is valid UTF-8 (base/json.h checked it). */
static size_t words_of(const char *text, char *out, size_t cap)
{
	size_t o = 0, words = 0;
	bool in = false;
	const unsigned char *p = (const unsigned char *)text;
	while (*p) {
		size_t len = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
		bool w = *p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			 (*p >= '0' && *p <= '9');
		if (w && !in) {
			if (words == MAP_WORDS || o + 2 > cap)
				break;
			if (o)
				out[o++] = ' ';
			words++;
		}
		in = w;
		if (!w) {
			p++;
			continue;
		}
		if (o + len + 1 > cap)
			break;
		size_t k = 0;
		for (; k < len && p[k]; k++)
			out[o++] = (char)p[k];
		p += k;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

/* The user's memory whose text best matches MemU's item, by keyword. */
static bool map_item(struct pos_assistant *as, struct pos_arena *a, const char *user_id,
		     const char *text, int64_t *seq)
{
	char q[MAP_BYTES];
	size_t len = words_of(text, q, sizeof(q));
	if (!len || !as->mem->search)
		return false;
	struct pos_search_request req = {
		.user_id = user_id, .query = q, .query_len = len, .mode = POS_SEARCH_KEYWORD,
		.filters = {.user_id = user_id, .type = -1, .layer = -1,
			    .after = POS_TIME_NONE, .before = POS_TIME_NONE},
		.limit = 1};
	struct pos_search_result res;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_search_run(as->mem->search, a, &req, &res, &e) != POS_OK || !res.n)
		return false;
	*seq = res.hits[0].memory.seq;
	return true;
}

const char *pos_memu_search_retrieve(void *ctx, const char *user_id, const char *query,
				     size_t max, struct pos_hit *out, size_t *n)
{
	struct pos_assistant *as = ctx;
	*n = 0;
	int64_t t0 = pos_mono_us();
	if (t0 < atomic_load(&as->memu_search_quiet_until))
		return "recently_failed";
	if (pos_memu_retry_after_us(as->memu_search) > 0 || pos_memu_retry_after_us(as->memu) > 0)
		return "rate_limited";
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return "error";
	struct pos_memu_item *items = NULL;
	size_t ni = 0;
	struct pos_error e;
	pos_error_clear(&e);
	enum pos_err rc = pos_memu_retrieve(as->memu_search, a, user_id, query, max, &items, &ni, &e);
	if (rc) {
		atomic_store(&as->memu_search_quiet_until, pos_mono_us() + POS_MEMU_SEARCH_QUIET_US);
		pos_warn("search: MemU retrieval failed: %s", e.message);
		pos_arena_destroy(a);
		return strstr(e.message, "timed out") ? "timeout"
		       : strstr(e.message, "429") ? "rate_limited"
		       : rc == POS_ERR_UNAVAILABLE ? "unavailable" : "error";
	}
	/* MemU had three quarters of the deadline (the client's limit); the
	 * mapping, local and quick, stops at the deadline too. */
	unsigned dl = as->cfg->memu_search_deadline_ms ? as->cfg->memu_search_deadline_ms
						       : POS_MEMU_SEARCH_DEADLINE_MS_DEFAULT;
	int64_t until = t0 + (int64_t)dl * 1000;
	for (size_t i = 0; i < ni && *n < max && pos_mono_us() < until; i++) {
		if (strcmp(items[i].kind, "item") != 0)
			continue; /* categories and resources summarize, they are not memories */
		int64_t seq;
		if (!map_item(as, a, user_id, items[i].text, &seq))
			continue;
		bool dup = false;
		for (size_t k = 0; k < *n && !dup; k++)
			dup = out[k].seq == seq;
		if (!dup)
			out[(*n)++] = (struct pos_hit){.seq = seq, .score = items[i].score};
	}
	pos_arena_destroy(a);
	return "used";
}
