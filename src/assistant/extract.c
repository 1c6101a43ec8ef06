/*
 * extract.c — the parts of the extractor both front ends share: the result
 * builder with its limits and de-duplication, text clean-up, and civil-date
 * arithmetic. The rules live in extract_rules.c, the model prompt and
 * answer validation in extract_model.c.
 */
#include "assistant/extract.h"

#include <string.h>

#include "assistant/extract_internal.h"

const char *pos_extract_kind_name(enum pos_extract_kind k)
{
	switch (k) {
	case POS_EXTRACT_FACT: return "fact";
	case POS_EXTRACT_TASK: return "task";
	case POS_EXTRACT_EVENT: return "event";
	case POS_EXTRACT_FOLLOWUP: return "follow_up";
	}
	return "?";
}

void pos_extract_builder_init(struct pos_extract_builder *b, struct pos_arena *a,
			      size_t max)
{
	b->a = a;
	b->items = NULL;
	b->n = 0;
	b->cap = 0;
	b->max = max > POS_EXTRACT_MAX_ITEMS ? POS_EXTRACT_MAX_ITEMS : max;
}

bool pos_extract_builder_full(const struct pos_extract_builder *b)
{
	return b->n >= b->max;
}

size_t pos_extract_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t k;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		k = 2; v = c & 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3; v = c & 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4; v = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return k;
}

static bool is_space_cp(uint32_t cp)
{
	return cp <= 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0xA0) || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

char *pos_extract_clean(struct pos_arena *a, const char *s, size_t n, size_t cap,
			bool cut, bool *too_long, bool *nomem)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = pos_arena_alloc(a, cap + 1);
	size_t len = 0;
	bool space = false;
	*too_long = false;
	*nomem = false;
	if (!out) {
		*nomem = true;
		return NULL;
	}
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = pos_extract_utf8(p + i, n - i, &cp);
		const char *bytes = (const char *)p + i;
		if (k == 0) {
			bytes = "\xEF\xBF\xBD";
			k = 1;
			i += 1;
			cp = 0xFFFD;
		} else {
			i += k;
		}
		if (is_space_cp(cp)) {
			space = len > 0;
			continue;
		}
		size_t need = cp == 0xFFFD && bytes[0] == '\xEF' && k == 1 ? 3 : k;
		if (len + (space ? 1 : 0) + need > cap) {
			if (!cut) {
				*too_long = true;
				return NULL;
			}
			break;
		}
		if (space)
			out[len++] = ' ';
		space = false;
		memcpy(out + len, bytes, need);
		len += need;
	}
	out[len] = '\0';
	return out;
}

static bool same_text(const char *x, const char *y)
{
	return strcasecmp(x, y) == 0;
}

enum pos_err pos_extract_add(struct pos_extract_builder *b, enum pos_extract_kind kind,
			     const char *text, int64_t when_us, int64_t end_us,
			     const char *who, size_t offset)
{
	if (!text || !text[0] || pos_extract_builder_full(b))
		return POS_OK;
	for (size_t i = 0; i < b->n; i++) {
		const struct pos_extract_item *it = &b->items[i];
		if (it->kind == kind && it->when_us == when_us && same_text(it->text, text))
			return POS_OK;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 8;
		if (ncap > b->max)
			ncap = b->max;
		struct pos_extract_item *v = pos_arena_alloc(b->a, ncap * sizeof(*v));
		if (!v)
			return POS_ERR_NOMEM;
		if (b->n)
			memcpy(v, b->items, b->n * sizeof(*v));
		b->items = v;
		b->cap = ncap;
	}
	b->items[b->n++] = (struct pos_extract_item){
		.kind = kind, .text = text, .when_us = when_us, .end_us = end_us,
		.who = who && who[0] ? who : NULL, .offset = offset,
	};
	return POS_OK;
}

int64_t pos_extract_days(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void pos_extract_civil(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int pos_extract_mdays(int64_t y, int m)
{
	static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12)
		return 0;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return md[m - 1] + (m == 2 && leap);
}
