/*
 * chat.c — the assistant's endpoints: POST /api/chat/message (JSON or
 * Server-Sent Events), GET /api/chat/history, POST /api/chat/suggestions
 * and POST /api/memories/{id}/memorize (its job: api/jobs.c).
 *
 * A message to a real model is deferred (http/server.h): the handler
 * prepares the chat, the connection is parked, and the model call runs as
 * a job of kind "chat" (pos_assistant_call: bounded, no thread of its own)
 * that writes the answer, or the stream, to the parked request. Streaming answers start only with the model's first
 * piece, so a provider that is down still gets a proper 503/502 status; a
 * stream that breaks later ends with an `error` event. The offline
 * responder is fast and runs inline on the request thread.
 */
#include "api/api.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "assistant/assistant.h"
#include "assistant/memu.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "http/sse.h"

/* ---- answers ---- */

static void write_result(struct pos_jw *w, const struct pos_chat_result *res)
{
	pos_jw_obj(w);
	pos_jw_key(w, "response");
	pos_jw_strn(w, res->response, res->response_len);
	pos_jw_kstr(w, "conversation_id", res->conversation_id);
	pos_jw_key(w, "memories_used");
	pos_jw_arr(w);
	for (size_t i = 0; i < res->n_used; i++)
		pos_jw_str(w, res->memories_used[i]);
	pos_jw_arr_end(w);
	pos_jw_kint(w, "context_size", (int64_t)res->context_size);
	pos_jw_kint(w, "context_tokens", (int64_t)res->context_tokens);
	pos_jw_kstr(w, "memory_id", res->memory_id);
	pos_jw_kstr(w, "model", res->model);
	pos_jw_key(w, "sources");
	pos_jw_arr(w);
	for (size_t i = 0; i < res->n_used; i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "origin", "local");
		pos_jw_kstr(w, "id", res->memories_used[i]);
		pos_jw_obj_end(w);
	}
	for (size_t i = 0; i < res->n_memu; i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "origin", "memu");
		pos_jw_kstr(w, "id", res->memu_items[i].id);
		pos_jw_kstr(w, "text", res->memu_items[i].text);
		pos_jw_kstr(w, "category", res->memu_items[i].category);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
}

static void reply_result(struct pos_req *r, const struct pos_chat_result *res)
{
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	write_result(&w, res);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

/* ---- Server-Sent Events ---- */

static bool sse_delta_text(struct pos_stream *s, const char *t, size_t n)
{
	struct pos_buf b;
	pos_buf_init(&b, 6 * n + 64);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "delta");
	pos_jw_strn(&w, t, n);
	pos_jw_obj_end(&w);
	bool ok = !w.rc && pos_sse_send(s, NULL, b.data, b.len);
	pos_buf_free(&b);
	return ok;
}

static void sse_final(struct pos_stream *s, const struct pos_chat_result *res)
{
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	write_result(&w, res);
	if (!w.rc)
		pos_sse_send(s, NULL, b.data, b.len);
	pos_buf_free(&b);
}

static void sse_error(struct pos_stream *s, const struct pos_error *e)
{
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	if (pos_json_error_body(&b, e) == POS_OK)
		pos_sse_send(s, "error", b.data, b.len);
	pos_buf_free(&b);
}

/* ---- the deferred model call ---- */

struct chat_job {
	struct pos_req *r;        /* until resumed */
	struct pos_chat *chat;
	struct pos_stream *s;     /* once streaming started */
	bool stream;
	struct pos_assistant *as;
	char user_id[POS_UUID_SIZE];
};

/* Starts the SSE answer (status 200) and wakes the parked connection. */
static bool start_stream(struct chat_job *j)
{
	j->s = pos_sse_open(j->r);
	pos_req_resume(j->r);
	j->r = NULL;
	return j->s != NULL;
}

static bool on_delta(void *ctx, const char *t, size_t n)
{
	struct chat_job *j = ctx;
	if (!j->s && !start_stream(j))
		return false;
	return sse_delta_text(j->s, t, n);
}

static void finish(struct chat_job *j, enum pos_err rc, const struct pos_chat_result *res,
		   const struct pos_error *err)
{
	if (j->stream && !j->s && !rc)
		start_stream(j);
	if (j->s) {
		if (rc)
			sse_error(j->s, err);
		else
			sse_final(j->s, res);
		pos_stream_close(j->s);
		j->s = NULL;
	} else if (j->r) {
		if (rc)
			pos_reply_error(j->r, err);
		else
			reply_result(j->r, res);
		pos_req_resume(j->r);
		j->r = NULL;
	}
}

/* The model call, on a jobs worker (run NULL: it cannot run any more). */
static void chat_call(void *ctx, struct pos_job_run *run)
{
	struct chat_job *j = ctx;
	struct pos_chat_result res;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = run ? pos_chat_run(j->chat, j->stream ? on_delta : NULL, j, &res, &err)
			      : pos_error_set(&err, POS_ERR_UNAVAILABLE, NULL,
					      "the server is stopping");
	finish(j, rc, &res, &err);
	pos_chat_free(j->chat);
	pos_free(j);
}

/* After the handler returned: the call becomes a job (bounded; a full
 * queue is 503 busy with Retry-After). */
static void chat_start(void *ctx)
{
	struct chat_job *j = ctx;
	enum pos_err rc = pos_assistant_call(j->as, j->user_id, chat_call, j, NULL);
	if (rc) {
		struct pos_error err;
		pos_error_clear(&err);
		pos_error_set(&err, rc, NULL,
			      rc == POS_ERR_BUSY ? "too many chat messages in flight: try again"
						 : NULL);
		if (rc == POS_ERR_BUSY)
			j->r->retry_after = 1;
		j->stream = false;
		finish(j, rc, NULL, &err);
		pos_chat_free(j->chat);
		pos_free(j);
	}
}

static bool wants_stream(struct pos_req *r, json_t *body, bool *out)
{
	json_t *s = json_object_get(body, "stream");
	if (s && !json_is_boolean(s) && !json_is_null(s)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "stream", "stream must be true or false");
		return false;
	}
	const char *accept = pos_req_header(r, "Accept");
	*out = json_is_true(s) || (accept && strstr(accept, POS_SSE_TYPE));
	return true;
}

void pos_api_chat_message(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	json_t *msg = json_object_get(body, "message");
	json_t *conv = json_object_get(body, "conversation_id");
	bool stream = false;
	if (!msg) {
		pos_reply_err(r, POS_ERR_MISSING_FIELD, "message", "message is required");
		goto out;
	}
	if (!json_is_string(msg)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "message", "message must be a string");
		goto out;
	}
	if (conv && !json_is_null(conv) && !json_is_string(conv)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "conversation_id",
			      "conversation_id must be a string");
		goto out;
	}
	if (!wants_stream(r, body, &stream))
		goto out;
	struct pos_chat_input in = {
		.user_id = r->principal.user_id,
		.message = json_string_value(msg),
		.message_len = json_string_length(msg),
		.conversation_id = json_is_string(conv) ? json_string_value(conv) : NULL,
	};
	struct pos_chat *chat;
	if (pos_chat_prepare(&srv->app->assistant, &in, &chat, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	if (pos_chat_inline(chat)) {
		struct pos_chat_result res;
		struct pos_stream *s = NULL;
		if (stream && !(s = pos_sse_open(r))) {
			pos_chat_free(chat);
			goto out;
		}
		struct chat_job j = {.s = s, .stream = stream};
		enum pos_err rc = pos_chat_run(chat, stream ? on_delta : NULL, &j, &res, &err);
		if (s) {
			if (rc)
				sse_error(s, &err);
			else
				sse_final(s, &res);
			pos_stream_close(s);
		} else if (rc) {
			pos_reply_error(r, &err);
		} else {
			reply_result(r, &res);
		}
		pos_chat_free(chat);
		goto out;
	}
	struct chat_job *j = pos_calloc(1, sizeof(*j));
	if (!j) {
		pos_chat_free(chat);
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	*j = (struct chat_job){.r = r, .chat = chat, .stream = stream, .as = &srv->app->assistant};
	snprintf(j->user_id, sizeof(j->user_id), "%s", r->principal.user_id);
	pos_req_defer(r, chat_start, j);
out:
	json_decref(body);
}

/* ---- history, suggestions, memorize, jobs ---- */

static void reply_writer(struct pos_req *r, struct pos_buf *b, struct pos_jw *w,
			 enum pos_err rc, const struct pos_error *err)
{
	if (rc) {
		pos_buf_free(b);
		pos_reply_error(r, err);
	} else if (w->rc) {
		pos_buf_free(b);
		pos_reply_err(r, w->rc, NULL, NULL);
	} else {
		pos_reply_json(r, 200, b);
	}
}

/* A route whose body is optional: none, or a JSON object (ignored). */
static bool optional_object(struct pos_req *r)
{
	if (!r->body.len)
		return true;
	json_t *body;
	if (!pos_req_json(r, &body))
		return false;
	json_decref(body);
	return true;
}

void pos_api_chat_history(struct pos_server *srv, struct pos_req *r)
{
	struct pos_error err;
	pos_error_clear(&err);
	long long limit = 20, offset = 0;
	const char *l = pos_req_param(r, "limit"), *o = pos_req_param(r, "offset");
	if (l && !pos_parse_int(l, 1, 1000000, &limit)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "limit", "limit must be a positive integer");
		return;
	}
	if (o && !pos_parse_int(o, 0, 1000000000, &offset)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "offset", "offset must be a non-negative integer");
		return;
	}
	if (limit > 200)
		limit = 200;
	const char *conv = pos_req_param(r, "conversation_id");
	if (conv && !*conv)
		conv = NULL;
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	enum pos_err rc = pos_chat_history_json(&srv->app->assistant, r->arena, r->principal.user_id,
						conv, (unsigned)limit, (unsigned)offset, &w, &err);
	reply_writer(r, &b, &w, rc, &err);
}

void pos_api_chat_suggestions(struct pos_server *srv, struct pos_req *r)
{
	struct pos_error err;
	pos_error_clear(&err);
	if (!optional_object(r))
		return;
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	enum pos_err rc = pos_suggestions_json(&srv->app->assistant, r->arena, r->principal.user_id,
					       pos_now_us(), &w, &err);
	reply_writer(r, &b, &w, rc, &err);
}

void pos_api_memory_memorize(struct pos_server *srv, struct pos_req *r)
{
	struct pos_error err;
	pos_error_clear(&err);
	if (!optional_object(r))
		return;
	const char *job;
	if (pos_memorize_enqueue(&srv->app->assistant, r->arena, r->principal.user_id,
				 pos_req_path(r, 0), &job, &err)) {
		if (err.code == POS_ERR_BUSY)
			r->retry_after = 1;
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_kstr(&w, "job_id", job);
	pos_jw_kstr(&w, "status", "queued");
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 202, &b);
}
