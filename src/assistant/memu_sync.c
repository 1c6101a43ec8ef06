/*
 * memu_sync.c — the `memu.memorize` job: a user's memories after a cursor
 * go to MemU in batches; a deletion makes MemU forget and start over
 * (memu_sync.h).
 */
#include "assistant/memu_sync.h"

#include <jansson.h>
#include <string.h>

#include "assistant/memu.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "jobs/jobs.h"

#define KEY_PREFIX POS_MEMU_SYNC_JOB ":"

struct sync_state {
	int64_t cursor;          /* last seq sent */
	const char *rebuilt;     /* the deletion stamp last handled, or NULL */
	bool present;            /* a state row exists: something was sent */
};

static void state_name(char *out, size_t cap, const char *what, const char *user_id)
{
	snprintf(out, cap, "memu.%s.%s", what, user_id);
}

static enum pos_err state_load(struct pos_store *s, struct pos_arena *a, const char *user_id,
			       struct sync_state *st, const char **deleted)
{
	char name[96];
	const char *v = NULL;
	memset(st, 0, sizeof(*st));
	state_name(name, sizeof(name), "sync", user_id);
	enum pos_err rc = s->ops->state_get(s, a, name, &v);
	if (rc)
		return rc;
	if (v) {
		json_t *j = json_loads(v, 0, NULL);
		json_t *c = json_object_get(j, "cursor");
		st->present = true;
		st->cursor = json_is_integer(c) && json_integer_value(c) > 0 ? json_integer_value(c) : 0;
		const char *r = json_string_value(json_object_get(j, "rebuilt"));
		st->rebuilt = r ? pos_arena_strdup(a, r) : NULL;
		json_decref(j);
	}
	state_name(name, sizeof(name), "deleted", user_id);
	*deleted = NULL;
	return s->ops->state_get(s, a, name, deleted);
}

static enum pos_err state_save(struct pos_store *s, const char *user_id,
			       const struct sync_state *st)
{
	char name[96];
	state_name(name, sizeof(name), "sync", user_id);
	json_t *j = json_pack("{s:I, s:s?}", "cursor", (json_int_t)st->cursor, "rebuilt",
			      st->rebuilt);
	char *v = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	enum pos_err rc = v ? s->ops->state_put(s, name, v) : POS_ERR_NOMEM;
	free(v);
	return rc;
}

static void queue_run(struct pos_assistant *as, const char *user_id, int64_t delay_us)
{
	char key[sizeof(KEY_PREFIX) + POS_UUID_SIZE];
	snprintf(key, sizeof(key), KEY_PREFIX "%s", user_id);
	enum pos_err rc = pos_jobs_enqueue_unique(as->jobs, POS_MEMU_SYNC_JOB, user_id, key, "{}",
						  pos_now_us() + delay_us, NULL);
	if (rc && rc != POS_ERR_CONFLICT) /* CONFLICT: one is queued or running */
		pos_warn("assistant: cannot queue a MemU upload: %s", pos_strerror(rc));
}

void pos_memu_sync_written(void *ctx, const char *user_id, bool deleted)
{
	struct pos_assistant *as = ctx;
	if (!as->memu || !as->jobs)
		return;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return;
	struct pos_store *s = as->store;
	struct pos_user u;
	bool cloud = s->accounts->user_by_id(s, a, user_id, &u) == POS_OK && u.privacy_tier &&
		     !strcmp(u.privacy_tier, "cloud");
	if (deleted) {
		struct sync_state st;
		const char *d;
		if (state_load(s, a, user_id, &st, &d) == POS_OK && (st.present || cloud)) {
			char name[96], stamp[32];
			state_name(name, sizeof(name), "deleted", user_id);
			snprintf(stamp, sizeof(stamp), "%lld", (long long)pos_now_us());
			if (s->ops->state_put(s, name, stamp) == POS_OK)
				queue_run(as, user_id, POS_MEMU_SYNC_DELAY_US);
		}
	} else if (cloud) {
		queue_run(as, user_id, POS_MEMU_SYNC_DELAY_US);
	}
	pos_arena_destroy(a);
}

/* One line per memory: its content with line breaks as spaces. */
static enum pos_err add_line(struct pos_buf *b, const struct pos_memory *m)
{
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && i < m->content_len; i++) {
		char ch = m->content[i];
		rc = pos_buf_add(b, ch == '\n' || ch == '\r' ? " " : &ch, 1);
	}
	return rc ? rc : pos_buf_add(b, "\n", 1);
}

struct run {
	struct pos_assistant *as;
	struct pos_job_run *r;
	struct pos_arena *a;
	const char *user_id;
	struct pos_error err;
	uint64_t sent, batches;
	bool rebuilt;
};

/* MemU's failure: retried by the jobs service, after Retry-After when
 * MemU sent one. */
static enum pos_err memu_failed(struct run *x, enum pos_err rc)
{
	int64_t wait = pos_memu_retry_after_us(x->as->memu);
	if (wait > 0)
		pos_job_retry_after(x->r, wait);
	pos_job_set_error(x->r, x->err.message[0] ? x->err.message : pos_strerror(rc));
	return rc;
}

/* Sends the next batch after st->cursor: *done when none is left. */
static enum pos_err send_batch(struct run *x, struct sync_state *st, const struct pos_user *u,
			       unsigned *batch, bool *done)
{
	struct pos_store *s = x->as->store;
	struct pos_memory_query q = {.user_id = x->user_id, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
				     .hide_chat = true, .after_seq = st->cursor,
				     .seq_walk = true};
	int64_t *seqs;
	size_t n;
	enum pos_err rc = s->memories->filter_seqs(s, x->a, &q, *batch, &seqs, &n);
	if (rc)
		return rc;
	if (!n) {
		*done = true;
		return POS_OK;
	}
	struct pos_memory *v = pos_arena_alloc(x->a, n * sizeof(*v));
	bool *found = pos_arena_alloc(x->a, n * sizeof(*found));
	if (!v || !found)
		return POS_ERR_NOMEM;
	if ((rc = s->memories->memories_by_seq(s, x->a, x->user_id, seqs, n, v, found)))
		return rc; /* POS_ERR_LOCKED: the user's data unlocks at login */
	struct pos_buf text;
	pos_buf_init(&text, POS_MEMU_MAX_REQUEST / 2);
	size_t used = 0, lines = 0;
	for (; used < n && !rc; used++) {
		if (!found[used] || (v[used].source && !strcmp(v[used].source, "memorize")) ||
		    !v[used].content_len)
			continue;
		if (lines && text.len + v[used].content_len > POS_MEMU_SYNC_BATCH_BYTES)
			break; /* the next batch starts here */
		if (!(rc = add_line(&text, &v[used])))
			lines++;
	}
	int64_t last = seqs[used - 1];
	if (!rc && lines) {
		int64_t t0 = pos_mono_us();
		const char *task, *status;
		pos_error_clear(&x->err);
		rc = pos_memu_memorize(x->as->memu, x->a, x->user_id, u->full_name, NULL, 0,
				       text.data, &task, &status, &x->err);
		int64_t ms = (pos_mono_us() - t0) / 1000;
		if (rc) {
			pos_buf_free(&text);
			return memu_failed(x, rc);
		}
		/* slow: smaller batches; fast: back up to the maximum */
		if (ms > POS_MEMU_SYNC_SLOW_MS)
			*batch = *batch > 1 ? *batch / 2 : 1;
		else if (*batch < POS_MEMU_SYNC_BATCH_MAX)
			*batch = *batch * 2 > POS_MEMU_SYNC_BATCH_MAX ? POS_MEMU_SYNC_BATCH_MAX
								      : *batch * 2;
		x->sent += lines;
		x->batches++;
	}
	pos_buf_free(&text);
	if (rc)
		return rc;
	st->cursor = last;
	return state_save(s, x->user_id, st);
}

static enum pos_err sync_user(struct run *x)
{
	struct pos_assistant *as = x->as;
	struct pos_store *s = as->store;
	struct pos_user u;
	enum pos_err rc = s->accounts->user_by_id(s, x->a, x->user_id, &u);
	if (rc == POS_ERR_NOT_FOUND)
		return POS_OK; /* the account is gone: memu_delete did the rest */
	if (rc)
		return rc;
	struct sync_state st;
	const char *deleted;
	if ((rc = state_load(s, x->a, x->user_id, &st, &deleted)))
		return rc;
	bool cloud = u.privacy_tier && !strcmp(u.privacy_tier, "cloud");
	if (deleted && (!st.rebuilt || strcmp(deleted, st.rebuilt))) {
		pos_error_clear(&x->err);
		if ((rc = pos_memu_delete(as->memu, x->user_id, &x->err)))
			return memu_failed(x, rc);
		st.cursor = 0;
		st.rebuilt = deleted;
		x->rebuilt = true;
		if ((rc = state_save(s, x->user_id, &st)))
			return rc;
	}
	if (!cloud)
		return POS_OK;
	unsigned batch = 8;
	for (bool done = false; !done;) {
		if (pos_job_should_stop(x->r))
			return POS_ERR_UNAVAILABLE;
		if ((rc = send_batch(x, &st, &u, &batch, &done)))
			return rc;
		pos_job_progress(x->r, x->sent, 0);
	}
	return POS_OK;
}

static enum pos_err run_sync(struct pos_job_run *r, void *ctx, const char *user_id,
			     const char *payload_json)
{
	(void)payload_json;
	struct pos_assistant *as = ctx;
	if (!as->memu) {
		(void)pos_job_set_result(r, "{\"skipped\":\"MemU is not configured\"}");
		return POS_OK;
	}
	int64_t wait = pos_memu_retry_after_us(as->memu);
	if (wait > 0) {
		pos_job_retry_after(r, wait);
		pos_job_set_error(r, "MemU asked to wait (Retry-After)");
		return POS_ERR_UNAVAILABLE;
	}
	struct run x = {.as = as, .r = r, .a = pos_arena_new(), .user_id = user_id};
	if (!x.a)
		return POS_ERR_NOMEM;
	pos_error_clear(&x.err);
	enum pos_err rc = sync_user(&x);
	char res[128];
	snprintf(res, sizeof(res), "{\"sent\":%llu,\"batches\":%llu,\"rebuilt\":%s}",
		 (unsigned long long)x.sent, (unsigned long long)x.batches,
		 x.rebuilt ? "true" : "false");
	(void)pos_job_set_result(r, res);
	pos_arena_destroy(x.a);
	return rc;
}

static const struct pos_job_kind kind_sync = {
	.name = POS_MEMU_SYNC_JOB, .max_attempts = 10,
	.timeout_us = 600LL * 1000000, .backoff_us = 1000000,
	.serial_per_user = true, .user_cancellable = true, .run = run_sync};

/* Queues a run for every user with memories not sent or a deletion not
 * handled. */
static void sweep(void *ctx)
{
	struct pos_assistant *as = ctx;
	if (!as->memu)
		return;
	struct pos_store *s = as->store;
	struct pos_arena *a = pos_arena_new();
	struct pos_user *users;
	size_t n;
	if (!a || s->accounts->user_list(s, a, &users, &n)) {
		pos_arena_destroy(a);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct sync_state st;
		const char *deleted;
		if (state_load(s, a, users[i].id, &st, &deleted))
			continue;
		bool due = deleted && (!st.rebuilt || strcmp(deleted, st.rebuilt));
		if (!due && users[i].privacy_tier && !strcmp(users[i].privacy_tier, "cloud")) {
			struct pos_memory_query q = {.user_id = users[i].id, .type = -1, .layer = -1,
						     .after = POS_TIME_NONE,
						     .before = POS_TIME_NONE, .hide_chat = true,
						     .after_seq = st.cursor, .seq_walk = true};
			int64_t *seqs;
			size_t k = 0;
			due = s->memories->filter_seqs(s, a, &q, 1, &seqs, &k) == POS_OK && k;
		}
		if (due)
			queue_run(as, users[i].id, 0);
	}
	pos_arena_destroy(a);
}

enum pos_err pos_memu_sync_register(struct pos_assistant *as, struct pos_jobs *jobs)
{
	enum pos_err rc = pos_jobs_register(jobs, &kind_sync, as);
	if (!rc)
		rc = pos_jobs_every(jobs, POS_MEMU_SYNC_SWEEP_US, sweep, as);
	return rc;
}
