/*
 * json.h — JSON in and out.
 *
 * In: pos_json_parse() wraps jansson with the limits every request needs
 * (UTF-8 only, no NUL in strings, nesting capped) and maps failures to
 * POS_ERR_INVALID_JSON. Field readers turn wrong types into
 * POS_ERR_INVALID_FIELD with the field named.
 *
 * Out: a streaming writer (struct pos_jw) into a capped pos_buf. It exists
 * beside jansson because responses embed stored JSON text (metadata, tags)
 * verbatim, which a DOM cannot do without re-parsing every row. Commas are
 * inserted automatically; the writer assumes string input is valid UTF-8
 * (everything it writes came through pos_json_parse or the store).
 * Not thread-safe per writer.
 */
#ifndef POS_BASE_JSON_H
#define POS_BASE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define POS_JSON_MAX_DEPTH 64

/*
 * Parses `len` bytes. Returns a new reference (caller json_decref) or NULL
 * with `e` set to POS_ERR_INVALID_JSON (message says where).
 */
json_t *pos_json_parse(const char *data, size_t len, struct pos_error *e);
/* Depth of nesting of v (a scalar is 0, [] is 1). Stops counting at cap. */
int pos_json_depth(const json_t *v, int cap);

/*
 * Optional string field: absent or null leaves *out untouched and returns
 * POS_OK (sets *present false). Wrong type: POS_ERR_INVALID_FIELD.
 */
enum pos_err pos_json_get_str(const json_t *obj, const char *key,
			      const char **out, bool *present,
			      struct pos_error *e);

/* Streaming writer. */
struct pos_jw {
	struct pos_buf *b;
	enum pos_err rc;      /* first failure, sticky */
	unsigned depth;
	uint64_t need_comma;  /* bit per depth level */
	bool after_key;
};

void pos_jw_init(struct pos_jw *w, struct pos_buf *b);
void pos_jw_obj(struct pos_jw *w);
void pos_jw_obj_end(struct pos_jw *w);
void pos_jw_arr(struct pos_jw *w);
void pos_jw_arr_end(struct pos_jw *w);
void pos_jw_key(struct pos_jw *w, const char *k);
void pos_jw_str(struct pos_jw *w, const char *s);
void pos_jw_strn(struct pos_jw *w, const char *s, size_t n);
void pos_jw_int(struct pos_jw *w, int64_t v);
/* Shortest of %.15g / %.17g that reads back to the same double. */
void pos_jw_double(struct pos_jw *w, double v);
void pos_jw_bool(struct pos_jw *w, bool v);
void pos_jw_null(struct pos_jw *w);
/* RFC 3339 string, or null for POS_TIME_NONE. */
void pos_jw_time(struct pos_jw *w, int64_t t);
/* Embeds already-serialized JSON text verbatim (must be one valid value). */
void pos_jw_raw(struct pos_jw *w, const char *json, size_t n);
/* Embeds a jansson value (serialized compactly). */
void pos_jw_json(struct pos_jw *w, const json_t *v);
/* Convenience: key + value. */
void pos_jw_kstr(struct pos_jw *w, const char *k, const char *s);
void pos_jw_kint(struct pos_jw *w, const char *k, int64_t v);
void pos_jw_kbool(struct pos_jw *w, const char *k, bool v);
void pos_jw_ktime(struct pos_jw *w, const char *k, int64_t t);

/* Writes the standard error body {"error":{code,message,field?,index?}}. */
enum pos_err pos_json_error_body(struct pos_buf *b, const struct pos_error *e);

#endif
