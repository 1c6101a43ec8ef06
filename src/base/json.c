/*
 * json.c — jansson with limits, and the streaming writer.
 */
#include "base/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"

/*
 * jansson's own nesting limit is a compile-time 2048; deeper input fails to
 * parse (good), but we want a tighter bound before building a DOM, so scan
 * the bracket depth first, ignoring brackets inside strings.
 */
static bool depth_ok(const char *s, size_t len, int max)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '[' || c == '{') {
			if (++depth > max)
				return false;
		} else if (c == ']' || c == '}')
			depth--;
	}
	return true;
}

json_t *pos_json_parse(const char *data, size_t len, struct pos_error *e)
{
	if (!depth_ok(data, len, POS_JSON_MAX_DEPTH)) {
		pos_error_set(e, POS_ERR_INVALID_JSON, NULL,
			      "JSON nests deeper than %d levels", POS_JSON_MAX_DEPTH);
		return NULL;
	}
	json_error_t je;
	/* No JSON_ALLOW_NUL: "\u0000" in a string is rejected. jansson also
	 * rejects invalid UTF-8. JSON_REJECT_DUPLICATES keeps one meaning. */
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!v)
		pos_error_set(e, POS_ERR_INVALID_JSON, NULL,
			      "invalid JSON at line %d column %d: %s", je.line,
			      je.column, je.text);
	return v;
}

int pos_json_depth(const json_t *v, int cap)
{
	if (cap <= 0)
		return 0;
	int best = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *c;
		json_object_foreach((json_t *)v, k, c) {
			int d = pos_json_depth(c, cap - 1);
			if (d > best)
				best = d;
		}
		return best + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *c;
		json_array_foreach(v, i, c) {
			int d = pos_json_depth(c, cap - 1);
			if (d > best)
				best = d;
		}
		return best + 1;
	}
	return 0;
}

enum pos_err pos_json_get_str(const json_t *obj, const char *key,
			      const char **out, bool *present,
			      struct pos_error *e)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = false;
	if (!v || json_is_null(v))
		return POS_OK;
	if (!json_is_string(v))
		return pos_error_set(e, POS_ERR_INVALID_FIELD, key,
				     "%s must be a string", key);
	*out = json_string_value(v);
	if (present)
		*present = true;
	return POS_OK;
}

/* ---- writer ---- */

void pos_jw_init(struct pos_jw *w, struct pos_buf *b)
{
	w->b = b;
	w->rc = POS_OK;
	w->depth = 0;
	w->need_comma = 0;
	w->after_key = false;
}

static void put(struct pos_jw *w, const char *s, size_t n)
{
	if (!w->rc)
		w->rc = pos_buf_add(w->b, s, n);
}

static void value_start(struct pos_jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	uint64_t bit = 1ull << (w->depth & 63);
	if (w->need_comma & bit)
		put(w, ",", 1);
	w->need_comma |= bit;
}

static void open(struct pos_jw *w, char c)
{
	value_start(w);
	put(w, &c, 1);
	w->depth++;
	w->need_comma &= ~(1ull << (w->depth & 63));
}

static void close_(struct pos_jw *w, char c)
{
	w->depth--;
	put(w, &c, 1);
}

void pos_jw_obj(struct pos_jw *w) { open(w, '{'); }
void pos_jw_obj_end(struct pos_jw *w) { close_(w, '}'); }
void pos_jw_arr(struct pos_jw *w) { open(w, '['); }
void pos_jw_arr_end(struct pos_jw *w) { close_(w, ']'); }

/* Bytes that need escaping inside a JSON string. */
static const unsigned char needs_escape[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 1,
};

static void escaped(struct pos_jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	put(w, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!needs_escape[c])
			continue;
		put(w, s + start, i - start);
		start = i + 1;
		char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
		switch (c) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default: put(w, u, 6);
		}
	}
	put(w, s + start, n - start);
	put(w, "\"", 1);
}

void pos_jw_key(struct pos_jw *w, const char *k)
{
	value_start(w);
	escaped(w, k, strlen(k));
	put(w, ":", 1);
	w->after_key = true;
}

void pos_jw_strn(struct pos_jw *w, const char *s, size_t n)
{
	value_start(w);
	escaped(w, s, n);
}

void pos_jw_str(struct pos_jw *w, const char *s)
{
	if (!s) {
		pos_jw_null(w);
		return;
	}
	pos_jw_strn(w, s, strlen(s));
}

void pos_jw_int(struct pos_jw *w, int64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	value_start(w);
	put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

void pos_jw_double(struct pos_jw *w, double v)
{
	char tmp[40];
	if (!isfinite(v)) {
		pos_jw_null(w);
		return;
	}
	/* Fast path: values with at most 6 decimals (scores, importance). */
	double scaled = v * 1e6;
	if (fabs(v) < 1e9 && scaled == floor(scaled) && (double)(int64_t)scaled / 1e6 == v) {
		int64_t x = (int64_t)scaled;
		char *p = tmp + sizeof(tmp);
		uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
		uint64_t frac = u % 1000000, whole = u / 1000000;
		int digits = 6;
		while (digits > 1 && frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		for (int i = 0; i < digits; i++, frac /= 10)
			*--p = (char)('0' + frac % 10);
		*--p = '.';
		do {
			*--p = (char)('0' + whole % 10);
			whole /= 10;
		} while (whole);
		if (x < 0)
			*--p = '-';
		value_start(w);
		put(w, p, (size_t)(tmp + sizeof(tmp) - p));
		return;
	}
	int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		n = snprintf(tmp, sizeof(tmp), "%.17g", v);
	/* Keep it a JSON number that reads back as a real. */
	if (!strpbrk(tmp, ".eEn") && n < (int)sizeof(tmp) - 2) {
		tmp[n++] = '.';
		tmp[n++] = '0';
		tmp[n] = '\0';
	}
	value_start(w);
	put(w, tmp, (size_t)n);
}

void pos_jw_bool(struct pos_jw *w, bool v)
{
	value_start(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void pos_jw_null(struct pos_jw *w)
{
	value_start(w);
	put(w, "null", 4);
}

void pos_jw_time(struct pos_jw *w, int64_t t)
{
	if (t == POS_TIME_NONE) {
		pos_jw_null(w);
		return;
	}
	char tmp[POS_TIME_FMT_LEN];
	size_t n = pos_time_format(t, tmp, sizeof(tmp));
	pos_jw_strn(w, tmp, n);
}

void pos_jw_raw(struct pos_jw *w, const char *json, size_t n)
{
	value_start(w);
	put(w, json, n);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
	struct pos_jw *w = data;
	put(w, buf, size);
	return w->rc ? -1 : 0;
}

void pos_jw_json(struct pos_jw *w, const json_t *v)
{
	value_start(w);
	if (!w->rc && json_dump_callback(v, dump_cb, w,
					 JSON_COMPACT | JSON_ENCODE_ANY) != 0 &&
	    !w->rc)
		w->rc = POS_ERR_NOMEM;
}

void pos_jw_kstr(struct pos_jw *w, const char *k, const char *s)
{
	pos_jw_key(w, k);
	pos_jw_str(w, s);
}

void pos_jw_kint(struct pos_jw *w, const char *k, int64_t v)
{
	pos_jw_key(w, k);
	pos_jw_int(w, v);
}

void pos_jw_kbool(struct pos_jw *w, const char *k, bool v)
{
	pos_jw_key(w, k);
	pos_jw_bool(w, v);
}

void pos_jw_ktime(struct pos_jw *w, const char *k, int64_t t)
{
	pos_jw_key(w, k);
	pos_jw_time(w, t);
}

enum pos_err pos_json_error_body(struct pos_buf *b, const struct pos_error *e)
{
	struct pos_jw w;
	pos_jw_init(&w, b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "error");
	pos_jw_obj(&w);
	pos_jw_kstr(&w, "code", pos_err_code(e->code));
	pos_jw_kstr(&w, "message",
		    e->message[0] ? e->message : pos_strerror(e->code));
	if (e->field[0] && e->code == POS_ERR_QUOTA_EXCEEDED)
		pos_jw_kstr(&w, "quota", e->field); /* which quota, not a body field */
	else if (e->field[0])
		pos_jw_kstr(&w, "field", e->field);
	if (e->index >= 0)
		pos_jw_kint(&w, "index", e->index);
	pos_jw_obj_end(&w);
	pos_jw_obj_end(&w);
	return w.rc;
}
