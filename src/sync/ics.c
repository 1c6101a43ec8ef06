/*
 * ics.c — iCalendar text to event items (see ics.h for the rules).
 *
 * Pipeline: scan() splits the text into VTIMEZONE and VEVENT blocks with
 * line numbers; the VTIMEZONEs are parsed once into one VCALENDAR used to
 * resolve TZIDs; each VEVENT block is parsed alone by libical, checked, and
 * kept with the hash of its raw text; events are sorted by UID so a
 * master meets its RECURRENCE-ID overrides; then each master is expanded
 * and each item built and upserted.
 */
#include "sync/ics.h"

#include <libical/ical.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"

#define US 1000000LL
#define DAY_US (86400LL * US)
#define MAX_STEPS 200000 /* recurrence iterations per event, hits or not */

void pos_ics_hash_hex(const void *data, size_t len, char out[33])
{
	unsigned char h[16];
	crypto_generichash(h, sizeof(h), data, len, NULL, 0);
	for (int i = 0; i < 16; i++) {
		out[2 * i] = "0123456789abcdef"[h[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[h[i] & 15];
	}
	out[32] = '\0';
}

/* ---- config -------------------------------------------------------------- */

enum pos_err pos_ics_config_field(struct pos_error *err)
{
	if (!err)
		return POS_OK;
	if (err->code && err->field[0] && strncmp(err->field, "config", 6) != 0) {
		char f[sizeof(err->field)];
		size_t n = strnlen(err->field, sizeof(err->field) - 8);
		memcpy(f, "config.", 7);
		memcpy(f + 7, err->field, n);
		f[7 + n] = '\0';
		memcpy(err->field, f, sizeof(f));
	}
	return err->code;
}

static enum pos_err get_int(const json_t *config, const char *key, long lo,
			    long hi, long dflt, long *out, struct pos_error *err)
{
	const json_t *v = json_object_get(config, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return POS_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
				     "%s must be an integer from %ld to %ld",
				     key, lo, hi);
	*out = (long)json_integer_value(v);
	return POS_OK;
}

static enum pos_err get_time(const json_t *config, const char *key,
			     int64_t *out, bool *present, struct pos_error *err)
{
	const json_t *v = json_object_get(config, key);
	*present = false;
	if (!v || json_is_null(v))
		return POS_OK;
	if (!json_is_string(v) ||
	    !pos_time_parse(json_string_value(v), json_string_length(v), true,
			    out))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
				     "%s must be an RFC 3339 time", key);
	*present = true;
	return POS_OK;
}

enum pos_err pos_ics_window_from_config(const json_t *config, int64_t now_us,
					struct pos_ics_window *w,
					struct pos_error *err)
{
	long past, future, maxi;
	int64_t t;
	bool has;
	enum pos_err rc;

	memset(w, 0, sizeof(*w));
	if (config && !json_is_object(config))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config",
				     "config must be an object");
	rc = get_int(config, "expand_past_days", 0, POS_ICS_MAX_DAYS,
		     POS_ICS_DEFAULT_PAST_DAYS, &past, err);
	if (!rc)
		rc = get_int(config, "expand_future_days", 0, POS_ICS_MAX_DAYS,
			     POS_ICS_DEFAULT_FUTURE_DAYS, &future, err);
	if (!rc)
		rc = get_int(config, "max_instances", 1, POS_ICS_MAX_INSTANCES,
			     POS_ICS_DEFAULT_MAX_INSTANCES, &maxi, err);
	if (rc)
		return rc;
	w->from_us = now_us - past * DAY_US;
	w->until_us = now_us + future * DAY_US;
	w->max_instances = (unsigned)maxi;
	rc = get_time(config, "expand_from", &t, &has, err);
	if (rc)
		return rc;
	if (has)
		w->from_us = t;
	rc = get_time(config, "expand_until", &t, &has, err);
	if (rc)
		return rc;
	if (has)
		w->until_us = t;
	if (w->until_us <= w->from_us)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "expand_until",
				     "the expansion window is empty");
	if (w->until_us - w->from_us > 2 * POS_ICS_MAX_DAYS * DAY_US)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "expand_until",
				     "the expansion window is longer than %d days",
				     2 * POS_ICS_MAX_DAYS);
	const json_t *tz = json_object_get(config, "timezone");
	if (tz && !json_is_null(tz)) {
		if (!json_is_string(tz) || json_string_length(tz) == 0 ||
		    json_string_length(tz) >= sizeof(w->floating_tz) ||
		    (strcmp(json_string_value(tz), "UTC") != 0 &&
		     !icaltimezone_get_builtin_timezone(json_string_value(tz))))
			return pos_error_set(err, POS_ERR_INVALID_FIELD,
					     "timezone",
					     "timezone must be a time zone name "
					     "such as Europe/Berlin");
		if (strcmp(json_string_value(tz), "UTC") != 0)
			snprintf(w->floating_tz, sizeof(w->floating_tz), "%s",
				 json_string_value(tz));
	}
	return POS_OK;
}

/* ---- splitting ----------------------------------------------------------- */

struct block {
	size_t off, len; /* raw bytes, BEGIN line to END line inclusive */
	size_t line;     /* 1-based line of BEGIN:VEVENT */
	size_t index;    /* 1-based VEVENT number */
	const char *bad; /* set when the scanner already knows it is broken */
};

struct split {
	struct block *ev;
	size_t n, cap;
	struct pos_buf tz; /* "BEGIN:VCALENDAR" + VTIMEZONEs + "END:..." */
	bool saw_calendar;
};

/* Line content without CR/LF, compared case-insensitively. */
static bool line_is(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' ||
		     p[n - 1] == '\t'))
		n--;
	return n == l && strncasecmp(p, lit, l) == 0;
}

static bool line_begins(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && strncasecmp(p, lit, l) == 0;
}

static enum pos_err push_block(struct split *s, struct block b)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		struct block *nv = pos_realloc(s->ev, nc * sizeof(*nv));
		if (!nv)
			return POS_ERR_NOMEM;
		s->ev = nv;
		s->cap = nc;
	}
	s->ev[s->n++] = b;
	return POS_OK;
}

/*
 * Time zone rules change yearly. libical expands a VTIMEZONE's rules from
 * their start to far in the future, so an RRULE:FREQ=SECONDLY there would
 * run for hours: such blocks are dropped (their TZID then resolves to the
 * system zone of that name, or is floating).
 */
static bool tz_block_ok(const char *p, size_t n)
{
	size_t pos = 0;
	while (pos < n) {
		const char *l = p + pos;
		const char *nl = memchr(l, '\n', n - pos);
		size_t ln = nl ? (size_t)(nl - l) + 1 : n - pos;
		if (line_begins(l, ln, "RRULE")) {
			bool yearly = false;
			for (size_t i = 0; i + 11 <= ln && !yearly; i++)
				yearly = strncasecmp(l + i, "FREQ=YEARLY", 11) == 0;
			if (!yearly)
				return false;
		}
		pos += ln;
	}
	return true;
}

static enum pos_err scan(const char *d, size_t len, struct split *s)
{
	size_t pos = 0, line = 0, nev = 0;
	int state = 0; /* 0 outside, 1 in VEVENT, 2 in VTIMEZONE */
	int depth = 0; /* nested BEGINs inside the current block */
	struct block cur = {0};
	size_t tz_off = 0;
	enum pos_err rc = POS_OK;

	pos_buf_init(&s->tz, POS_ICS_MAX_FILE_BYTES);
	rc = pos_buf_adds(&s->tz, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
				  "PRODID:-//PersonalOS//ics//EN\r\n");
	while (!rc && pos < len) {
		const char *p = d + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - p) + 1 : len - pos;
		line++;
		if (state == 0) {
			if (line_is(p, n, "BEGIN:VEVENT")) {
				nev++;
				cur = (struct block){pos, 0, line, nev, NULL};
				state = 1;
				depth = 0;
			} else if (line_is(p, n, "BEGIN:VTIMEZONE")) {
				tz_off = pos;
				state = 2;
				depth = 0;
			} else if (line_is(p, n, "BEGIN:VCALENDAR")) {
				s->saw_calendar = true;
			}
		} else {
			bool begin = line_begins(p, n, "BEGIN:");
			bool end = line_begins(p, n, "END:");
			if (state == 1 && line_is(p, n, "BEGIN:VEVENT")) {
				/* A VEVENT never nests: the open one lost its END. */
				cur.len = pos - cur.off;
				cur.bad = "no END:VEVENT before the next event";
				rc = push_block(s, cur);
				nev++;
				cur = (struct block){pos, 0, line, nev, NULL};
				depth = 0;
			} else if (state == 1 && line_is(p, n, "END:VCALENDAR")) {
				cur.len = pos - cur.off;
				cur.bad = "no END:VEVENT before END:VCALENDAR";
				rc = push_block(s, cur);
				state = 0;
			} else if (begin) {
				depth++;
			} else if (end && depth > 0) {
				depth--;
			} else if (end) {
				if (state == 1) {
					cur.len = pos + n - cur.off;
					if (!line_is(p, n, "END:VEVENT"))
						cur.bad = "mismatched END line";
					rc = push_block(s, cur);
				} else if (tz_block_ok(d + tz_off, pos + n - tz_off)) {
					rc = pos_buf_add(&s->tz, d + tz_off,
							 pos + n - tz_off);
					if (!rc && d[pos + n - 1] != '\n')
						rc = pos_buf_adds(&s->tz, "\r\n");
				}
				state = 0;
			}
		}
		pos += n;
	}
	if (!rc && state == 1) {
		cur.len = len - cur.off;
		cur.bad = "no END:VEVENT before the end of the text";
		rc = push_block(s, cur);
	}
	if (!rc)
		rc = pos_buf_adds(&s->tz, "END:VCALENDAR\r\n");
	return rc;
}

/* ---- one event ----------------------------------------------------------- */

struct ev {
	icalcomponent *c;
	const struct block *b;
	const char *uid;
	bool has_rid;
	int64_t rid_us;
	unsigned char hash[16];
};

struct run {
	const struct pos_ics_window *w;
	const char *where;
	const struct pos_sync_sink *sink; /* NULL in parse-only mode */
	json_t *ids;
	struct pos_ics_stats *stats;
	struct pos_error *err;
	icalcomponent *tzcal;
	icaltimezone *floating;
	const char *data;
	struct pos_buf content;
	uint64_t done, total, instances;
};

static void skip(struct run *r, const struct block *b, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void skip(struct run *r, const struct block *b, const char *fmt, ...)
{
	char pos[192], why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(pos, sizeof(pos), "%s%sevent %zu (line %zu)",
		 r->where ? r->where : "", r->where ? ": " : "", b->index,
		 b->line);
	if (r->stats)
		r->stats->skipped++;
	if (r->sink && r->sink->skip)
		r->sink->skip(r->sink->ctx, pos, why);
}

/* The zone a DATE-TIME property is in: its TZID, a Z suffix or floating. */
static icaltimezone *prop_zone(struct run *r, icalproperty *p,
			       struct icaltimetype t, bool *unknown)
{
	*unknown = false;
	if (icaltime_is_utc(t))
		return icaltimezone_get_utc_timezone();
	icalparameter *par = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
	const char *tzid = par ? icalparameter_get_tzid(par) : NULL;
	if (!tzid || !*tzid)
		return r->floating;
	icaltimezone *z = icalcomponent_get_timezone(r->tzcal, tzid);
	if (!z)
		z = icaltimezone_get_builtin_timezone(tzid);
	if (!z)
		z = icaltimezone_get_builtin_timezone_from_tzid(tzid);
	if (!z) {
		*unknown = true;
		return r->floating;
	}
	return z;
}

static int64_t to_us(struct icaltimetype t, icaltimezone *z)
{
	if (icaltime_is_date(t)) {
		struct tm tm = {0};
		tm.tm_year = t.year - 1900;
		tm.tm_mon = t.month - 1;
		tm.tm_mday = t.day;
		return (int64_t)timegm(&tm) * US;
	}
	return (int64_t)icaltime_as_timet_with_zone(t, z) * US;
}

/* libical accepts "2026133X" as 2026-13-03: check the fields ourselves. */
static bool time_ok(struct icaltimetype t)
{
	if (icaltime_is_null_time(t) || t.year < 1 || t.year > 9999 ||
	    t.month < 1 || t.month > 12 || t.day < 1 ||
	    t.day > icaltime_days_in_month(t.month, t.year))
		return false;
	return icaltime_is_date(t) ||
	       (t.hour >= 0 && t.hour < 24 && t.minute >= 0 && t.minute < 60 &&
		t.second >= 0 && t.second <= 60);
}

/* A property's time in UTC microseconds; false when absent or invalid. */
static bool prop_time(struct run *r, icalcomponent *c, icalproperty_kind k,
		      int64_t *out, struct icaltimetype *tt, icaltimezone **zone)
{
	icalproperty *p = icalcomponent_get_first_property(c, k);
	if (!p)
		return false;
	icalvalue *v = icalproperty_get_value(p);
	if (!v || (icalvalue_isa(v) != ICAL_DATETIME_VALUE &&
		   icalvalue_isa(v) != ICAL_DATE_VALUE))
		return false;
	struct icaltimetype t = icalvalue_get_datetime(v);
	if (!time_ok(t))
		return false;
	bool unknown;
	icaltimezone *z = prop_zone(r, p, t, &unknown);
	if (tt)
		*tt = t;
	if (zone)
		*zone = z;
	*out = to_us(t, z);
	return true;
}

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	int c = strcmp(x->uid, y->uid);
	if (c)
		return c;
	if (x->has_rid != y->has_rid)
		return x->has_rid ? 1 : -1; /* master first */
	if (x->rid_us != y->rid_us)
		return x->rid_us < y->rid_us ? -1 : 1;
	return x->b->index < y->b->index ? -1 : 1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Hash of the raw block without DTSTAMP lines (and their folded tails). */
static void raw_hash(const char *d, const struct block *b, unsigned char out[16])
{
	crypto_generichash_state st;
	size_t pos = b->off, end = b->off + b->len;
	bool skipping = false;
	crypto_generichash_init(&st, NULL, 0, 16);
	while (pos < end) {
		const char *p = d + pos;
		const char *nl = memchr(p, '\n', end - pos);
		size_t n = nl ? (size_t)(nl - p) + 1 : end - pos;
		bool cont = *p == ' ' || *p == '\t';
		if (!cont)
			skipping = line_begins(p, n, "DTSTAMP");
		if (!skipping)
			crypto_generichash_update(&st, (const unsigned char *)p, n);
		pos += n;
	}
	crypto_generichash_final(&st, out, 16);
}

/* ---- building an item ---------------------------------------------------- */

static const char *zone_name(icaltimezone *z)
{
	if (!z)
		return NULL;
	if (z == icaltimezone_get_utc_timezone())
		return "UTC";
	const char *n = icaltimezone_get_location(z);
	if (!n || !*n)
		n = icaltimezone_get_tzid(z);
	return n;
}

static void fmt_local(int64_t us, icaltimezone *z, bool date, char *out,
		      size_t cap, bool time_only)
{
	time_t t = (time_t)(us / US);
	if (date) {
		struct tm tm;
		gmtime_r(&t, &tm);
		snprintf(out, cap, "%04d-%02d-%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday);
		return;
	}
	struct icaltimetype lt = icaltime_from_timet_with_zone(
		t, 0, z ? z : icaltimezone_get_utc_timezone());
	if (time_only)
		snprintf(out, cap, "%02d:%02d", lt.hour, lt.minute);
	else
		snprintf(out, cap, "%04d-%02d-%02d %02d:%02d", lt.year, lt.month,
			 lt.day, lt.hour, lt.minute);
}

static bool same_local_day(int64_t a, int64_t b, icaltimezone *z)
{
	icaltimezone *zz = z ? z : icaltimezone_get_utc_timezone();
	struct icaltimetype x = icaltime_from_timet_with_zone((time_t)(a / US), 0, zz);
	struct icaltimetype y = icaltime_from_timet_with_zone((time_t)(b / US), 0, zz);
	return x.year == y.year && x.month == y.month && x.day == y.day;
}

/* Appends "Key: value" with the value's line breaks kept, if not empty. */
static enum pos_err add_field(struct pos_buf *b, const char *key, const char *v)
{
	if (!v || !*v)
		return POS_OK;
	enum pos_err rc = pos_buf_addf(b, "\n%s: ", key);
	size_t n = strlen(v);
	size_t room = b->max > b->len + 1 ? b->max - b->len - 1 : 0;
	if (!rc)
		rc = pos_buf_add(b, v, n < room ? n : room);
	return rc;
}

static enum pos_err add_attendees(struct pos_buf *b, icalcomponent *c)
{
	int k = 0;
	enum pos_err rc = POS_OK;
	for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY);
	     p && !rc && k < 200;
	     p = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY), k++) {
		const char *addr = icalproperty_get_attendee(p);
		icalparameter *cn = icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);
		const char *name = cn ? icalparameter_get_cn(cn) : NULL;
		if (addr && strncasecmp(addr, "mailto:", 7) == 0)
			addr += 7;
		rc = pos_buf_adds(b, k ? ", " : "\nAttendees: ");
		if (!rc && name && *name && addr && *addr)
			rc = pos_buf_addf(b, "%s <%s>", name, addr);
		else if (!rc)
			rc = pos_buf_adds(b, name && *name ? name : addr ? addr : "?");
	}
	return rc;
}

struct inst {
	int64_t start, end;  /* UTC us */
	int64_t rid;         /* original start, for the external_id */
	bool is_instance;    /* of a recurring event (id gets "#rid") */
};

static enum pos_err emit(struct run *r, const struct ev *e,
			 const struct ev *master, const struct inst *in,
			 bool all_day, icaltimezone *zone)
{
	icalcomponent *c = e->c;
	struct pos_buf *b = &r->content;
	char s1[40], s2[40], id_time[POS_TIME_FMT_LEN], ver[33];
	enum pos_err rc;

	r->instances++;
	if (!r->sink)
		return POS_OK;

	pos_buf_reset(b);
	const char *summary = icalcomponent_get_summary(c);
	rc = pos_buf_addf(b, "Event: %s", summary && *summary ? summary : "(no title)");
	/* Time line, in the event's own zone. */
	if (!rc && all_day) {
		int64_t last = in->end - DAY_US > in->start ? in->end - DAY_US : in->start;
		fmt_local(in->start, NULL, true, s1, sizeof(s1), false);
		fmt_local(last, NULL, true, s2, sizeof(s2), false);
		rc = last > in->start ? pos_buf_addf(b, "\nTime: %s – %s (all day)", s1, s2)
				      : pos_buf_addf(b, "\nTime: %s (all day)", s1);
	} else if (!rc) {
		bool same = same_local_day(in->start, in->end, zone);
		fmt_local(in->start, zone, false, s1, sizeof(s1), false);
		fmt_local(in->end, zone, false, s2, sizeof(s2), same);
		const char *zn = zone_name(zone);
		rc = pos_buf_addf(b, "\nTime: %s – %s%s%s%s", s1, s2,
				  zn ? " (" : "", zn ? zn : "", zn ? ")" : "");
	}
	if (!rc)
		rc = add_attendees(b, c);
	if (!rc)
		rc = add_field(b, "Description", icalcomponent_get_description(c));
	const char *location = icalcomponent_get_location(c);
	if (!rc)
		rc = add_field(b, "Location", location);
	if (rc == POS_ERR_BODY_TOO_LARGE)
		rc = POS_OK; /* cut at the cap */
	if (rc)
		return pos_error_set(r->err, rc, NULL, NULL);

	/* external_id */
	char *ext;
	size_t idn;
	if (in->is_instance) {
		if (all_day)
			fmt_local(in->rid, NULL, true, id_time, sizeof(id_time), false);
		else
			pos_time_format(in->rid, id_time, sizeof(id_time));
		idn = strlen(e->uid) + strlen(id_time) + 2;
		ext = pos_malloc(idn);
		if (ext)
			snprintf(ext, idn, "%s#%s", e->uid, id_time);
	} else {
		ext = pos_strdup(e->uid);
	}
	if (!ext)
		return pos_error_set(r->err, POS_ERR_NOMEM, NULL, NULL);

	/* version: this block's text, plus the master's for instances */
	unsigned char vh[32];
	memcpy(vh, e->hash, 16);
	memcpy(vh + 16, master ? master->hash : e->hash, 16);
	pos_ics_hash_hex(vh, sizeof(vh), ver);

	json_t *meta = json_object();
	json_t *tags = NULL;
	char ts[POS_TIME_FMT_LEN];
	if (!meta) {
		pos_free(ext);
		return pos_error_set(r->err, POS_ERR_NOMEM, NULL, NULL);
	}
	json_object_set_new(meta, "event_id", json_string(e->uid));
	pos_time_format(in->start, ts, sizeof(ts));
	json_object_set_new(meta, "start_time", json_string(ts));
	pos_time_format(in->end, ts, sizeof(ts));
	json_object_set_new(meta, "end_time", json_string(ts));
	json_t *loc = location && *location ? json_string(location) : NULL;
	json_object_set_new(meta, "location", loc ? loc : json_null());
	if (all_day)
		json_object_set_new(meta, "all_day", json_true());
	else if (zone_name(zone))
		json_object_set_new(meta, "time_zone", json_string(zone_name(zone)));
	if (in->is_instance) {
		pos_time_format(in->rid, ts, sizeof(ts));
		json_object_set_new(meta, "recurrence_id", json_string(ts));
	}
	/* CATEGORIES become tags. */
	for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_CATEGORIES_PROPERTY);
	     p; p = icalcomponent_get_next_property(c, ICAL_CATEGORIES_PROPERTY)) {
		const char *cat = icalproperty_get_categories(p);
		json_t *js = cat && *cat && strlen(cat) <= 64 ? json_string(cat) : NULL;
		if (!js)
			continue;
		if (!tags)
			tags = json_array();
		if (tags && json_array_size(tags) < 20)
			json_array_append_new(tags, js);
		else
			json_decref(js);
	}

	struct pos_sync_item item = {
		.external_id = ext,
		.type = "event",
		.content = b->data,
		.content_len = b->len,
		.metadata = meta,
		.tags = tags,
		.created_at_us = in->start ? in->start : 1,
		.version = ver,
	};
	struct pos_error e2;
	pos_error_clear(&e2);
	rc = r->sink->upsert(r->sink->ctx, &item, &e2);
	if (rc == POS_ERR_INVALID_FIELD || rc == POS_ERR_MISSING_FIELD ||
	    rc == POS_ERR_INVALID_REQUEST || rc == POS_ERR_CONTENT_TOO_LARGE) {
		skip(r, e->b, "refused: %s", e2.message[0] ? e2.message : pos_strerror(rc));
		rc = POS_OK;
	} else if (rc) {
		*r->err = e2;
		if (!r->err->code)
			pos_error_set(r->err, rc, NULL, NULL);
	} else {
		if (r->stats)
			r->stats->items++;
		if (r->ids)
			json_array_append_new(r->ids, json_string(ext));
	}
	pos_free(ext);
	json_decref(meta);
	json_decref(tags);
	return rc;
}

/* Start, end, all-day flag and zone of one VEVENT; false when unusable. */
static bool event_times(struct run *r, struct ev *e, int64_t *start,
			int64_t *dur, bool *all_day, icaltimezone **zone,
			struct icaltimetype *dtstart, const char **why)
{
	int64_t end;
	struct icaltimetype tend;
	icaltimezone *zend;
	if (!prop_time(r, e->c, ICAL_DTSTART_PROPERTY, start, dtstart, zone)) {
		*why = "missing or invalid DTSTART";
		return false;
	}
	*all_day = icaltime_is_date(*dtstart);
	icalproperty *dp = icalcomponent_get_first_property(e->c, ICAL_DURATION_PROPERTY);
	if (prop_time(r, e->c, ICAL_DTEND_PROPERTY, &end, &tend, &zend)) {
		if (end < *start) {
			*why = "DTEND is before DTSTART";
			return false;
		}
		*dur = end - *start;
	} else if (icalcomponent_get_first_property(e->c, ICAL_DTEND_PROPERTY)) {
		*why = "invalid DTEND";
		return false;
	} else if (dp) {
		struct icaldurationtype d = icalproperty_get_duration(dp);
		int secs = icaldurationtype_as_int(d);
		if (icaldurationtype_is_bad_duration(d) || secs < 0) {
			*why = "invalid DURATION";
			return false;
		}
		*dur = (int64_t)secs * US;
	} else {
		*dur = *all_day ? DAY_US : 0;
	}
	return true;
}

static bool cancelled(const struct ev *e)
{
	return icalcomponent_get_status(e->c) == ICAL_STATUS_CANCELLED;
}

static int by_count(const short *v, int cap)
{
	int n = 0;
	while (n < cap && v[n] != ICAL_RECURRENCE_ARRAY_MAX)
		n++;
	return n;
}

/*
 * Rules libical would spend minutes on: its iterator loops internally, up
 * to the year 2582, looking for an instance of a rule that has none (Feb
 * 30) or steps every second or minute. We refuse those, and the BY* parts
 * RFC 5545 forbids for the frequency. Returns why, or NULL.
 */
static const char *rule_refused(const struct icalrecurrencetype *r)
{
	static const int mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (r->freq == ICAL_SECONDLY_RECURRENCE || r->freq == ICAL_MINUTELY_RECURRENCE)
		return "more often than hourly";
	int nwk = by_count(r->by_week_no, ICAL_BY_WEEKNO_SIZE);
	int nyd = by_count(r->by_year_day, ICAL_BY_YEARDAY_SIZE);
	int nmd = by_count(r->by_month_day, ICAL_BY_MONTHDAY_SIZE);
	int nmo = by_count(r->by_month, ICAL_BY_MONTH_SIZE);
	if (nwk && r->freq != ICAL_YEARLY_RECURRENCE)
		return "BYWEEKNO is only for FREQ=YEARLY";
	if (nyd && (r->freq == ICAL_DAILY_RECURRENCE || r->freq == ICAL_WEEKLY_RECURRENCE ||
		    r->freq == ICAL_MONTHLY_RECURRENCE))
		return "BYYEARDAY is not for this FREQ";
	if (nmd && r->freq == ICAL_WEEKLY_RECURRENCE)
		return "BYMONTHDAY is not for FREQ=WEEKLY";
	if (r->freq == ICAL_HOURLY_RECURRENCE && (nwk || nyd || nmd || nmo))
		return "FREQ=HOURLY with day or month parts";
	if (nmd && nmo) {
		/* Some listed day must exist in some listed month. */
		int most = 0;
		for (int i = 0; i < nmo; i++) {
			int m = r->by_month[i];
			if (m >= 1 && m <= 12 && mdays[m] > most)
				most = mdays[m];
		}
		bool any = false;
		for (int i = 0; i < nmd && !any; i++) {
			int d = r->by_month_day[i];
			any = (d > 0 && d <= most) || (d < 0 && -d <= most);
		}
		if (!any)
			return "no such day in the listed months";
	}
	return NULL;
}

/* Emits a master and its overrides ov[0..nov). */
/* A recurring event being expanded: its master's times and the instance
 * starts found so far (heap, sorted once complete). */
struct series {
	struct ev *m;
	int64_t start, dur;
	bool all_day;
	icaltimezone *zone;
	struct icaltimetype dtstart;
	int64_t *starts;
	size_t n, cap;
	bool overflow;              /* more than max_instances in the window */
};

static enum pos_err series_add(struct run *r, struct series *g, int64_t us)
{
	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 16;
		int64_t *ns = pos_realloc(g->starts, nc * sizeof(*ns));
		if (!ns)
			return pos_error_set(r->err, POS_ERR_NOMEM, NULL, NULL);
		g->starts = ns;
		g->cap = nc;
	}
	g->starts[g->n++] = us;
	return POS_OK;
}

/* A single (non-recurring) event and its overrides, odd as they are:
 * treated as instances. */
static enum pos_err emit_single(struct run *r, struct series *g, struct ev *ov, size_t nov)
{
	enum pos_err rc = POS_OK;
	const char *why;
	if (!cancelled(g->m)) {
		struct inst in = {g->start, g->start + g->dur, g->start, false};
		rc = emit(r, g->m, NULL, &in, g->all_day, g->zone);
	}
	for (size_t i = 0; !rc && i < nov; i++) {
		int64_t s, d;
		bool ad;
		icaltimezone *z;
		struct icaltimetype t;
		if (!event_times(r, &ov[i], &s, &d, &ad, &z, &t, &why)) {
			skip(r, ov[i].b, "%s", why);
			continue;
		}
		if (cancelled(&ov[i]) || ov[i].rid_us == g->start)
			continue;
		struct inst in = {s, s + d, ov[i].rid_us, true};
		rc = emit(r, &ov[i], g->m, &in, ad, z);
	}
	return rc;
}

/* The RRULE's instance starts within the window (near it first when the
 * rule has no COUNT), at most max_instances + 64. *skipped when the rule
 * is refused (reported). */
static enum pos_err rule_starts(struct run *r, struct series *g, icalproperty *rp,
				bool *skipped)
{
	const struct pos_ics_window *w = r->w;
	struct icalrecurrencetype rule = icalproperty_get_rrule(rp);
	*skipped = true;
	if (rule.freq == ICAL_NO_RECURRENCE) {
		skip(r, g->m->b, "invalid RRULE");
		return POS_OK;
	}
	const char *refused = rule_refused(&rule);
	if (refused) {
		skip(r, g->m->b, "RRULE not expanded: %s", refused);
		return POS_OK;
	}
	struct icaltimetype dt = g->dtstart;
	if (!g->all_day)
		dt.zone = g->zone;
	icalrecur_iterator *it = icalrecur_iterator_new(rule, dt);
	if (!it) {
		skip(r, g->m->b, "unusable RRULE");
		return POS_OK;
	}
	*skipped = false;
	if (rule.count == 0 && w->from_us - g->dur > g->start) {
		time_t j = (time_t)((w->from_us - g->dur) / US) - 86400;
		struct icaltimetype js = icaltime_from_timet_with_zone(
			j, g->all_day, g->all_day ? icaltimezone_get_utc_timezone() : g->zone);
		if (g->all_day)
			js.zone = NULL;
		icalrecur_iterator_set_start(it, js);
	}
	enum pos_err rc = POS_OK;
	for (long steps = 0; !rc && steps < MAX_STEPS; steps++) {
		struct icaltimetype t = icalrecur_iterator_next(it);
		if (icaltime_is_null_time(t))
			break;
		int64_t us = to_us(t, g->all_day ? NULL : g->zone);
		if (us >= w->until_us)
			break;
		if (us + g->dur < w->from_us && us < w->from_us)
			continue;
		rc = series_add(r, g, us);
		if (!rc && g->n >= w->max_instances + 64) {
			g->overflow = true;
			break;
		}
	}
	icalrecur_iterator_free(it);
	return rc;
}

/* DTSTART itself (the first instance, even when the rule misses it) and
 * the RDATEs within the window, at most 65; then sorts the starts. */
static enum pos_err add_rdates(struct run *r, struct series *g, icalproperty *rdp)
{
	const struct pos_ics_window *w = r->w;
	enum pos_err rc = POS_OK;
	size_t added = 0;
	if (g->start >= w->from_us - g->dur && g->start < w->until_us) {
		rc = series_add(r, g, g->start);
		added++;
	}
	for (icalproperty *p = rdp; !rc && p && added < 65;
	     p = icalcomponent_get_next_property(g->m->c, ICAL_RDATE_PROPERTY)) {
		struct icaldatetimeperiodtype dp = icalproperty_get_rdate(p);
		struct icaltimetype t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
		if (!time_ok(t))
			continue;
		bool unknown;
		int64_t us = to_us(t, prop_zone(r, p, t, &unknown));
		if (us >= w->from_us - g->dur && us < w->until_us) {
			rc = series_add(r, g, us);
			added++;
		}
	}
	if (!rc && g->n)
		qsort(g->starts, g->n, sizeof(*g->starts), cmp_i64);
	return rc;
}

/* The EXDATEs (at most 256) into ex[]; returns how many. */
static size_t read_exdates(struct run *r, const struct ev *m, int64_t ex[256])
{
	size_t nex = 0;
	for (icalproperty *p = icalcomponent_get_first_property(m->c, ICAL_EXDATE_PROPERTY);
	     p && nex < 256; p = icalcomponent_get_next_property(m->c, ICAL_EXDATE_PROPERTY)) {
		struct icaltimetype t = icalproperty_get_exdate(p);
		if (!time_ok(t))
			continue;
		bool unknown;
		icaltimezone *z = prop_zone(r, p, t, &unknown);
		ex[nex++] = to_us(t, icaltime_is_date(t) ? NULL : z);
	}
	return nex;
}

/* Emits every start not excluded or overridden, up to max_instances,
 * polling cancellation every 256. */
static enum pos_err emit_instances(struct run *r, struct series *g, const struct ev *ov,
				   size_t nov, const int64_t *ex, size_t nex)
{
	enum pos_err rc = POS_OK;
	size_t emitted = 0;
	int64_t prev = INT64_MIN;
	for (size_t i = 0; !rc && i < g->n; i++) {
		int64_t s = g->starts[i];
		if (s == prev)
			continue;
		prev = s;
		bool excluded = false;
		for (size_t k = 0; k < nex && !excluded; k++)
			excluded = ex[k] == s || (g->all_day && ex[k] / DAY_US == s / DAY_US);
		if (excluded)
			continue;
		bool overridden = false;
		for (size_t k = 0; k < nov && !overridden; k++)
			overridden = ov[k].rid_us == s;
		if (overridden || cancelled(g->m))
			continue;
		if (emitted >= r->w->max_instances) {
			g->overflow = true;
			break;
		}
		struct inst in = {s, s + g->dur, s, true};
		rc = emit(r, g->m, g->m, &in, g->all_day, g->zone);
		emitted++;
		if (!rc && r->sink && r->sink->cancelled && (emitted & 255) == 0 &&
		    r->sink->cancelled(r->sink->ctx))
			rc = pos_error_set(r->err, POS_ERR_UNAVAILABLE, NULL,
					   "the run was cancelled");
	}
	return rc;
}

/* "more than max_instances in the window", as a skip of the event. */
static void report_overflow(struct run *r, const struct ev *m)
{
	if (!r->sink || !r->sink->skip)
		return;
	char pos[192], why[128];
	snprintf(pos, sizeof(pos), "%s%sevent %zu (line %zu)", r->where ? r->where : "",
		 r->where ? ": " : "", m->b->index, m->b->line);
	snprintf(why, sizeof(why), "more than %u instances in the window; the rest left out",
		 r->w->max_instances);
	r->sink->skip(r->sink->ctx, pos, why);
}

/* Overrides: each replaces the instance its RECURRENCE-ID names. */
static enum pos_err emit_overrides(struct run *r, struct series *g, struct ev *ov, size_t nov)
{
	const struct pos_ics_window *w = r->w;
	enum pos_err rc = POS_OK;
	const char *why;
	for (size_t i = 0; !rc && i < nov; i++) {
		int64_t s, d;
		bool ad;
		icaltimezone *z;
		struct icaltimetype t;
		if (!event_times(r, &ov[i], &s, &d, &ad, &z, &t, &why)) {
			skip(r, ov[i].b, "%s", why);
			continue;
		}
		if (cancelled(&ov[i]))
			continue;
		bool inside = (s + d >= w->from_us && s < w->until_us) ||
			      (ov[i].rid_us >= w->from_us && ov[i].rid_us < w->until_us);
		if (!inside)
			continue;
		struct inst in = {s, s + d, ov[i].rid_us, true};
		rc = emit(r, &ov[i], g->m, &in, ad || g->all_day, z);
	}
	return rc;
}

/* One event (master `m` and its overrides): a single event, or a series
 * expanded in steps — RRULE, DTSTART and RDATEs, minus EXDATEs and
 * overridden instances — then the overrides. */
static enum pos_err do_group(struct run *r, struct ev *m, struct ev *ov, size_t nov)
{
	struct series g = {.m = m};
	const char *why;
	if (!event_times(r, m, &g.start, &g.dur, &g.all_day, &g.zone, &g.dtstart, &why)) {
		skip(r, m->b, "%s", why);
		return POS_OK;
	}
	icalproperty *rp = icalcomponent_get_first_property(m->c, ICAL_RRULE_PROPERTY);
	icalproperty *rdp = icalcomponent_get_first_property(m->c, ICAL_RDATE_PROPERTY);
	if (!rp && !rdp)
		return emit_single(r, &g, ov, nov);
	bool skipped = false;
	enum pos_err rc = rp ? rule_starts(r, &g, rp, &skipped) : POS_OK;
	if (!rc && !skipped)
		rc = add_rdates(r, &g, rdp);
	int64_t ex[256];
	size_t nex = !rc && !skipped ? read_exdates(r, m, ex) : 0;
	if (!rc && !skipped)
		rc = emit_instances(r, &g, ov, nov, ex, nex);
	pos_free(g.starts);
	if (rc || skipped)
		return rc;
	if (g.overflow)
		report_overflow(r, m);
	return emit_overrides(r, &g, ov, nov);
}

/* ---- driver -------------------------------------------------------------- */

static bool x_lic_error_on(icalcomponent *c, const char **why)
{
	for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_XLICERROR_PROPERTY);
	     p; p = icalcomponent_get_next_property(c, ICAL_XLICERROR_PROPERTY)) {
		const char *m = icalproperty_get_xlicerror(p);
		if (m && (strstr(m, "DTSTART") || strstr(m, "RRULE") ||
			  strstr(m, "DTEND"))) {
			*why = m;
			return true;
		}
	}
	return false;
}

static enum pos_err import(struct run *r, const char *data, size_t len)
{
	struct split s = {0};
	struct ev *evs = NULL;
	size_t nev = 0;
	char *tmp = NULL;
	size_t tmp_cap = 0;
	enum pos_err rc;
	static const char nouid_prefix[] = "ics-";

	r->data = data;
	rc = scan(data, len, &s);
	if (rc) {
		pos_error_set(r->err, rc, NULL, NULL);
		goto out;
	}
	if (!s.saw_calendar && s.n == 0) {
		size_t i = 0;
		while (i < len && (data[i] == ' ' || data[i] == '\r' ||
				   data[i] == '\n' || data[i] == '\t'))
			i++;
		if (i < len)
			rc = pos_error_set(r->err, POS_ERR_BAD_GATEWAY, NULL,
					   "not iCalendar text (no BEGIN:VCALENDAR)");
		goto out;
	}
	r->tzcal = icalparser_parse_string(s.tz.data);
	if (r->tzcal && icalcomponent_isa(r->tzcal) != ICAL_VCALENDAR_COMPONENT) {
		icalcomponent_free(r->tzcal);
		r->tzcal = NULL;
	}
	if (!r->tzcal)
		r->tzcal = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
	r->floating = r->w->floating_tz[0]
			      ? icaltimezone_get_builtin_timezone(r->w->floating_tz)
			      : icaltimezone_get_utc_timezone();

	evs = pos_calloc(s.n ? s.n : 1, sizeof(*evs));
	if (!evs || !r->tzcal) {
		rc = pos_error_set(r->err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	r->total = s.n;
	if (r->stats)
		r->stats->events += s.n;
	for (size_t i = 0; i < s.n; i++) {
		const struct block *b = &s.ev[i];
		const char *why = NULL;
		if (b->bad) {
			skip(r, b, "%s", b->bad);
			continue;
		}
		if (b->len > POS_ICS_MAX_EVENT_BYTES) {
			skip(r, b, "event larger than %u bytes", POS_ICS_MAX_EVENT_BYTES);
			continue;
		}
		if (b->len + 1 > tmp_cap) {
			char *nt = pos_realloc(tmp, b->len + 1);
			if (!nt) {
				rc = pos_error_set(r->err, POS_ERR_NOMEM, NULL, NULL);
				goto out;
			}
			tmp = nt;
			tmp_cap = b->len + 1;
		}
		memcpy(tmp, data + b->off, b->len);
		tmp[b->len] = '\0';
		if (memchr(tmp, '\0', b->len)) {
			skip(r, b, "NUL byte inside the event");
			continue;
		}
		icalcomponent *c = icalparser_parse_string(tmp);
		if (c && icalcomponent_isa(c) != ICAL_VEVENT_COMPONENT) {
			icalcomponent *inner = icalcomponent_get_first_component(c, ICAL_VEVENT_COMPONENT);
			if (inner) {
				icalcomponent_remove_component(c, inner);
				icalcomponent_free(c);
				c = inner;
			} else {
				icalcomponent_free(c);
				c = NULL;
			}
		}
		if (!c) {
			skip(r, b, "not a parsable VEVENT");
			continue;
		}
		if (x_lic_error_on(c, &why)) {
			skip(r, b, "%s", why);
			icalcomponent_free(c);
			continue;
		}
		struct ev *e = &evs[nev];
		e->c = c;
		e->b = b;
		raw_hash(data, b, e->hash);
		e->uid = icalcomponent_get_uid(c);
		if (!e->uid || !*e->uid || strlen(e->uid) > 512) {
			/* No UID (some exports): a stable one from the text. */
			char hex[33], idbuf[40];
			pos_ics_hash_hex(e->hash, 16, hex);
			snprintf(idbuf, sizeof(idbuf), "%s%s", nouid_prefix, hex);
			icalcomponent_set_uid(c, idbuf);
			e->uid = icalcomponent_get_uid(c);
		}
		icalproperty *rid = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
		if (rid) {
			if (!prop_time(r, c, ICAL_RECURRENCEID_PROPERTY, &e->rid_us, NULL, NULL)) {
				skip(r, b, "invalid RECURRENCE-ID");
				icalcomponent_free(c);
				e->c = NULL;
				continue;
			}
			e->has_rid = true;
		}
		nev++;
	}
	qsort(evs, nev, sizeof(*evs), cmp_ev);

	for (size_t i = 0; !rc && i < nev;) {
		size_t j = i + 1;
		while (j < nev && strcmp(evs[j].uid, evs[i].uid) == 0)
			j++;
		if (!evs[i].has_rid) {
			/* Duplicate masters: the later block wins, the others are
			 * reported. */
			size_t m = i;
			while (m + 1 < j && !evs[m + 1].has_rid) {
				skip(r, evs[m].b, "duplicate UID %s", evs[m].uid);
				m++;
			}
			rc = do_group(r, &evs[m], &evs[m + 1], j - m - 1);
		} else {
			/* Overrides without their master: each stands alone. */
			for (size_t k = i; !rc && k < j; k++) {
				int64_t s0, d;
				bool ad;
				icaltimezone *z;
				struct icaltimetype t;
				const char *why;
				if (!event_times(r, &evs[k], &s0, &d, &ad, &z, &t, &why)) {
					skip(r, evs[k].b, "%s", why);
					continue;
				}
				if (cancelled(&evs[k]))
					continue;
				struct inst in = {s0, s0 + d, evs[k].rid_us, true};
				rc = emit(r, &evs[k], NULL, &in, ad, z);
			}
		}
		r->done += j - i;
		if (!rc && r->sink && r->sink->progress)
			r->sink->progress(r->sink->ctx, r->done, r->total);
		if (!rc && r->sink && r->sink->cancelled &&
		    r->sink->cancelled(r->sink->ctx))
			rc = pos_error_set(r->err, POS_ERR_UNAVAILABLE, NULL,
					   "the run was cancelled");
		i = j;
	}
out:
	for (size_t i = 0; i < nev; i++)
		if (evs[i].c)
			icalcomponent_free(evs[i].c);
	pos_free(evs);
	pos_free(tmp);
	pos_free(s.ev);
	pos_buf_free(&s.tz);
	if (r->tzcal)
		icalcomponent_free(r->tzcal);
	r->tzcal = NULL;
	return rc;
}

enum pos_err pos_ics_import(const char *data, size_t len,
			    const struct pos_ics_window *w, const char *where,
			    const struct pos_sync_sink *sink, json_t *ids,
			    struct pos_ics_stats *stats, struct pos_error *err)
{
	struct run r = {.w = w, .where = where, .sink = sink, .ids = ids,
			.stats = stats, .err = err};
	pos_buf_init(&r.content, POS_ICS_MAX_CONTENT);
	enum pos_err rc = import(&r, data, len);
	pos_buf_free(&r.content);
	return rc;
}

uint64_t pos_ics_parse_only(const char *data, size_t len,
			    const struct pos_ics_window *w)
{
	struct pos_error err;
	struct run r = {.w = w, .err = &err};
	pos_error_clear(&err);
	pos_buf_init(&r.content, POS_ICS_MAX_CONTENT);
	import(&r, data, len);
	pos_buf_free(&r.content);
	return r.instances;
}
