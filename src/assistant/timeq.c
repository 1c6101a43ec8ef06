/*
 * timeq.c — time windows in questions, and the memories dated in them.
 */
#include "assistant/timeq.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assistant/extract.h"
#include "base/clock.h"

#define DAY_US INT64_C(86400000000)

int pos_timeq_tz(const char *settings_json)
{
	json_t *s = json_loads(settings_json ? settings_json : "{}", 0, NULL);
	json_t *v = json_object_get(s, "tz_offset_minutes");
	int off = json_is_integer(v) && json_integer_value(v) >= -18 * 60 &&
			  json_integer_value(v) <= 18 * 60
		  ? (int)json_integer_value(v) : 0;
	json_decref(s);
	return off;
}

/* Does the lower-cased question hold `phrase` as whole words? */
static bool has_phrase(const char *q, const char *phrase)
{
	size_t n = strlen(phrase);
	for (const char *p = q; (p = strstr(p, phrase)); p++) {
		bool start = p == q || !isalnum((unsigned char)p[-1]);
		bool end = !isalnum((unsigned char)p[n]);
		if (start && end)
			return true;
	}
	return false;
}

bool pos_timeq_window(const char *question, int64_t now_us, int tz_offset_min,
		      struct pos_timeq *out)
{
	if (!question)
		return false;
	char q[1024];
	size_t n = strlen(question);
	if (n >= sizeof(q))
		n = sizeof(q) - 1;
	for (size_t i = 0; i < n; i++)
		q[i] = (char)tolower((unsigned char)question[i]);
	q[n] = '\0';
	if (tz_offset_min > 18 * 60 || tz_offset_min < -18 * 60)
		tz_offset_min = 0;
	int64_t tz_us = (int64_t)tz_offset_min * 60 * 1000000;
	int64_t local = now_us + tz_us;
	int64_t today = local / DAY_US - (local % DAY_US < 0);
	int wday = (int)(((today % 7) + 11) % 7); /* 0 = Sunday; 1970-01-01 a Thursday */
	int64_t from = 0, to = 0; /* local days */
	const char *label = NULL;
	int64_t y;
	int m, d;
	pos_civil_from_days(today, &y, &m, &d);
	int64_t next_month = pos_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
	int64_t monday_next = today + (wday == 0 ? 1 : 8 - wday);
	if (has_phrase(q, "today") || has_phrase(q, "tonight") || has_phrase(q, "this evening")) {
		from = today, to = today + 1, label = "today";
	} else if (has_phrase(q, "tomorrow")) {
		from = today + 1, to = today + 2, label = "tomorrow";
	} else if (has_phrase(q, "yesterday")) {
		from = today - 1, to = today, label = "yesterday";
	} else if (has_phrase(q, "next week")) {
		from = monday_next, to = monday_next + 7, label = "next week";
	} else if (has_phrase(q, "last week")) {
		from = today - 7, to = today, label = "the last seven days";
	} else if (has_phrase(q, "weekend")) {
		int64_t sat = today + (wday == 0 ? -1 : 6 - wday);
		from = sat < today ? today : sat, to = sat + 2, label = "this weekend";
	} else if (has_phrase(q, "this week") || has_phrase(q, "the week") ||
		   has_phrase(q, "coming week") || has_phrase(q, "week ahead") ||
		   has_phrase(q, "next few days") || has_phrase(q, "next 7 days") ||
		   has_phrase(q, "next seven days") || has_phrase(q, "coming days") ||
		   has_phrase(q, "upcoming") || has_phrase(q, "coming up") ||
		   has_phrase(q, "soon")) {
		from = today, to = today + 7, label = "the next seven days";
	} else if (has_phrase(q, "next month")) {
		int64_t ny;
		int nm, nd;
		pos_civil_from_days(next_month, &ny, &nm, &nd);
		from = next_month;
		to = pos_days_from_civil(nm == 12 ? ny + 1 : ny, nm == 12 ? 1 : nm + 1, 1);
		label = "next month";
	} else if (has_phrase(q, "this month")) {
		from = today, to = next_month, label = "the rest of this month";
	} else {
		return false;
	}
	out->from = from * DAY_US - tz_us;
	out->to = to * DAY_US - tz_us;
	out->label = label;
	return true;
}

static int64_t meta_time(json_t *md, const char *key)
{
	const char *s = json_string_value(json_object_get(md, key));
	int64_t t;
	return s && pos_time_parse(s, strlen(s), true, &t) ? t : POS_TIME_NONE;
}

int64_t pos_timeq_when(struct pos_arena *a, const struct pos_memory *m, int tz_offset_min)
{
	json_t *md = json_loads(m->metadata_json ? m->metadata_json : "{}", 0, NULL);
	int64_t t = POS_TIME_NONE;
	if (json_is_object(md)) {
		t = meta_time(md, "start_time");
		if (t == POS_TIME_NONE)
			t = meta_time(md, "due");
	}
	json_decref(md);
	if (t == POS_TIME_NONE && m->type == POS_TYPE_EVENT)
		t = m->created_at; /* synced events are dated by their start */
	if (t != POS_TIME_NONE || !m->content || !m->content_len)
		return t;
	return pos_extract_first_date(a, m->content, m->content_len, m->created_at,
				      tz_offset_min);
}

static bool completed_task(const struct pos_memory *m)
{
	if (m->type != POS_TYPE_ACTION)
		return false;
	json_t *md = json_loads(m->metadata_json ? m->metadata_json : "{}", 0, NULL);
	bool done = json_is_true(json_object_get(md, "completed"));
	json_decref(md);
	return done;
}

struct dated {
	struct pos_memory m;
	int64_t when;
};

static int by_when(const void *x, const void *y)
{
	const struct dated *a = x, *b = y;
	if (a->when != b->when)
		return a->when < b->when ? -1 : 1;
	return a->m.seq < b->m.seq ? -1 : a->m.seq > b->m.seq;
}

enum pos_err pos_timeq_collect(struct pos_store *s, struct pos_arena *a, const char *user_id,
			       int tz_offset_min, const struct pos_timeq *w, size_t cap,
			       struct pos_memory **out, int64_t **whens, size_t *n)
{
	*n = 0;
	struct pos_memory *ev = NULL, *recent = NULL;
	size_t n_ev = 0, n_recent = 0;
	int64_t total;
	struct pos_memory_query q = {.user_id = user_id, .type = POS_TYPE_EVENT, .layer = -1,
				     .after = w->from, .before = w->to, .sort = POS_SORT_OLDEST,
				     .limit = POS_TIMEQ_SCAN, .hide_chat = true};
	enum pos_err rc = s->memories->memory_list(s, a, &q, &ev, &n_ev, &total);
	if (rc)
		return rc;
	q = (struct pos_memory_query){.user_id = user_id, .type = -1, .layer = -1,
				      .after = POS_TIME_NONE, .before = POS_TIME_NONE,
				      .sort = POS_SORT_CAPTURED, .limit = POS_TIMEQ_SCAN,
				      .hide_chat = true};
	if ((rc = s->memories->memory_list(s, a, &q, &recent, &n_recent, &total)))
		return rc;
	struct dated *d = pos_arena_alloc(a, (n_ev + n_recent + 1) * sizeof(*d));
	if (!d)
		return POS_ERR_NOMEM;
	size_t nd = 0;
	for (size_t pass = 0; pass < 2; pass++) {
		struct pos_memory *v = pass ? recent : ev;
		size_t nv = pass ? n_recent : n_ev;
		for (size_t i = 0; i < nv; i++) {
			bool seen = false;
			for (size_t j = 0; j < nd && !seen; j++)
				seen = d[j].m.seq == v[i].seq;
			if (seen || completed_task(&v[i]))
				continue;
			int64_t t = pos_timeq_when(a, &v[i], tz_offset_min);
			if (t == POS_TIME_NONE || t < w->from || t >= w->to)
				continue;
			d[nd++] = (struct dated){v[i], t};
		}
	}
	qsort(d, nd, sizeof(*d), by_when);
	if (nd > cap)
		nd = cap;
	*out = pos_arena_alloc(a, (nd ? nd : 1) * sizeof(**out));
	*whens = pos_arena_alloc(a, (nd ? nd : 1) * sizeof(**whens));
	if (!*out || !*whens)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < nd; i++) {
		(*out)[i] = d[i].m;
		(*whens)[i] = d[i].when;
	}
	*n = nd;
	return POS_OK;
}
