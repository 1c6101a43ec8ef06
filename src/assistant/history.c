/*
 * history.c — GET /api/chat/history: the user's conversations, or the
 * messages of one of them.
 */
#include <string.h>

#include "assistant/assistant.h"
#include "base/json.h"
#include "base/uuid.h"

static void conv_json(struct pos_jw *w, const struct pos_conversation *c)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", c->id);
	pos_jw_kstr(w, "title", c->title);
	pos_jw_ktime(w, "created_at", c->created_at);
	pos_jw_ktime(w, "updated_at", c->updated_at);
	pos_jw_kint(w, "message_count", c->message_count);
	pos_jw_obj_end(w);
}

enum pos_err pos_chat_history_json(struct pos_assistant *as, struct pos_arena *a,
				   const char *user_id, const char *conversation_id,
				   unsigned limit, unsigned offset, struct pos_jw *w,
				   struct pos_error *err)
{
	struct pos_store *s = as->store;
	enum pos_err rc;
	if (!conversation_id) {
		struct pos_conversation *convs;
		size_t n;
		int64_t total;
		if ((rc = s->chat->conversation_list(s, a, user_id, limit, offset, &convs, &n, &total)))
			return pos_error_set(err, rc, NULL, NULL);
		pos_jw_obj(w);
		pos_jw_key(w, "conversations");
		pos_jw_arr(w);
		for (size_t i = 0; i < n; i++)
			conv_json(w, &convs[i]);
		pos_jw_arr_end(w);
		pos_jw_kint(w, "total", total);
		pos_jw_kint(w, "limit", limit);
		pos_jw_kint(w, "offset", offset);
		pos_jw_kbool(w, "has_more", (int64_t)offset + (int64_t)n < total);
		pos_jw_obj_end(w);
		return POS_OK;
	}
	char norm[POS_UUID_SIZE];
	struct pos_conversation conv;
	if (!pos_uuid_valid(conversation_id, strlen(conversation_id), norm) ||
	    s->chat->conversation_get(s, a, user_id, norm, &conv))
		return pos_error_set(err, POS_ERR_NOT_FOUND, "conversation_id",
				     "no such conversation");
	struct pos_chat_message *msgs;
	size_t n;
	if ((rc = s->chat->messages_list(s, a, user_id, norm, limit, &msgs, &n)))
		return pos_error_set(err, rc, NULL, NULL);
	pos_jw_obj(w);
	pos_jw_key(w, "conversation");
	conv_json(w, &conv);
	pos_jw_key(w, "messages");
	pos_jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "id", msgs[i].id);
		pos_jw_kstr(w, "role", msgs[i].role);
		pos_jw_kstr(w, "content", msgs[i].content);
		pos_jw_key(w, "memories_used");
		pos_jw_raw(w, msgs[i].memories_used_json, strlen(msgs[i].memories_used_json));
		pos_jw_kstr(w, "memory_id", msgs[i].memory_id[0] ? msgs[i].memory_id : NULL);
		pos_jw_ktime(w, "created_at", msgs[i].created_at);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
	return POS_OK;
}
