/*
 * chat.c — one chat message: prepare (retrieve + prompt) and run (model +
 * save). See assistant.h for the two phases and docs/ASSISTANT.md for the
 * prompt layout, the query rewrite and the token budget.
 */
#include <ctype.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

#include "assistant/assistant.h"
#include "assistant/memu.h"
#include "assistant/timeq.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/uuid.h"
#include "events/bus.h"
#include "search/query.h"

/* Prompt tokens are estimated as bytes / 4 (close for English text with
 * the usual BPE tokenizers; only a budget, never a hard limit). */
#define BYTES_PER_TOKEN 4
#define MEMU_ITEMS_MAX 5

struct pos_chat {
	struct pos_arena *arena;
	struct pos_assistant *as;
	char user_id[POS_UUID_SIZE];
	struct pos_conversation conv;
	bool new_conv;
	const char *message;
	const char *tier;
	const char *user_name;
	struct pos_llm_msg *msgs;
	size_t n_msgs;
	struct pos_llm_doc *docs;
	size_t n_docs;
	const char **used;
	size_t n_used;
	size_t context_tokens;
	const char *query;
	struct pos_memu_item *memu_items;
	size_t n_memu;
	struct pos_llm_request req;
	bool counted;               /* holds one of as->active */
	int tz;                     /* the user's UTC offset, minutes */
	bool timeq;                 /* the message asks about a time window */
	struct pos_timeq window;
};

/* Dated memories added to a time question's context, at most. */
#define TIMEQ_DOCS 10

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

/* A conversation's title: the first line of its first message, cut to
 * POS_CHAT_TITLE_MAX bytes on a UTF-8 boundary. */
static const char *make_title(struct pos_arena *a, const char *msg)
{
	while (isspace((unsigned char)*msg))
		msg++;
	size_t n = pos_utf8_cut(msg, strcspn(msg, "\r\n"), POS_CHAT_TITLE_MAX);
	return pos_arena_strndup(a, msg, n);
}

/* Words that make a message lean on what was said before. */
static bool leans_on_history(const char *msg)
{
	static const char *const refs[] = {"it", "that", "this", "they", "them",
					   "he", "she", "him", "her", "there", "those",
					   "these", "then", "more", "else"};
	size_t words = 0;
	const unsigned char *p = (const unsigned char *)msg;
	while (*p) {
		while (*p && !isalnum(*p))
			p++;
		const unsigned char *s = p;
		while (*p && isalnum(*p))
			p++;
		size_t n = (size_t)(p - s);
		if (!n)
			continue;
		words++;
		for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
			if (strlen(refs[i]) == n && strncasecmp((const char *)s, refs[i], n) == 0)
				return true;
	}
	return words < 4;
}

/*
 * The search query: the message with query syntax neutralised (a chat
 * message is not a filter expression), prefixed by the previous user turn
 * when the message leans on it ("and when is it?"). Cut to the parser's
 * limit on a word boundary.
 */
static const char *search_query(struct pos_arena *a, const char *msg, const char *prev)
{
	struct pos_buf b;
	pos_buf_init(&b, POS_QUERY_MAX_BYTES - 1);
	const char *parts[2] = {prev, msg};
	for (int k = 0; k < 2; k++) {
		if (!parts[k])
			continue;
		for (const char *p = parts[k]; *p; p++) {
			char c = *p;
			if (c == ':' || c == '"' || c == '(' || c == ')' || c == '*' || c == '^' ||
			    (c == '-' && (p == parts[k] || isspace((unsigned char)p[-1]))))
				c = ' ';
			if (pos_buf_addc(&b, c) != POS_OK)
				goto full;
		}
		if (pos_buf_addc(&b, ' ') != POS_OK)
			goto full;
	}
full:
	/* Cut back to a space so no word or UTF-8 sequence is split. */
	if (b.len >= POS_QUERY_MAX_BYTES - 1) {
		while (b.len && b.data[b.len - 1] != ' ')
			b.len--;
	}
	const char *q = pos_arena_strndup(a, b.data ? b.data : "", b.len);
	pos_buf_free(&b);
	return q;
}

static enum pos_err load_history(struct pos_chat *c, const char **prev_user,
				 struct pos_chat_message **hist, size_t *n)
{
	struct pos_assistant *as = c->as;
	*hist = NULL;
	*n = 0;
	*prev_user = NULL;
	if (c->new_conv || !as->cfg->chat_history)
		return POS_OK;
	enum pos_err rc = as->store->chat->messages_list(as->store, c->arena, c->user_id,
							c->conv.id, as->cfg->chat_history,
							hist, n);
	if (rc)
		return rc;
	for (size_t i = *n; i > 0; i--)
		if (!strcmp((*hist)[i - 1].role, "user")) {
			*prev_user = (*hist)[i - 1].content;
			break;
		}
	return POS_OK;
}

/* Whether a chat message asks for archived memories: it says "archive"
 * (archived, archives) or uses the layer:archive filter. */
static bool asks_archive(const char *msg)
{
	for (const char *p = msg; p && *p; p++) {
		if ((*p == 'a' || *p == 'A') && (p == msg || !isalpha((unsigned char)p[-1])) &&
		    strncasecmp(p, "archive", 7) == 0)
			return true;
	}
	return false;
}

/* Retrieves the memories for the prompt: hybrid search, without this
 * conversation's own saved exchanges (those come in as history). */
static enum pos_err retrieve(struct pos_chat *c, struct pos_error *err)
{
	struct pos_assistant *as = c->as;
	unsigned want = as->cfg->chat_memories;
	size_t cap = want + TIMEQ_DOCS + 1;
	c->docs = pos_arena_zalloc(c->arena, cap * sizeof(*c->docs));
	c->used = pos_arena_zalloc(c->arena, cap * sizeof(*c->used));
	if (!c->docs || !c->used)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	enum pos_err rc;
	if (c->timeq) {
		/* A time question: what is dated in its window comes first,
		 * by the date of the thing (docs/ASSISTANT.md). */
		struct pos_memory *dm;
		int64_t *whens;
		size_t nd;
		if ((rc = pos_timeq_collect(as->store, c->arena, c->user_id, c->tz, &c->window,
					    TIMEQ_DOCS, &dm, &whens, &nd)))
			return pos_error_set(err, rc, NULL, NULL);
		for (size_t i = 0; i < nd; i++)
			c->docs[c->n_docs++] = (struct pos_llm_doc){
				.id = dm[i].id, .created_at = dm[i].created_at,
				.text = dm[i].content, .len = dm[i].content_len,
				.has_when = true, .when = whens[i]};
	}
	if (!want || blank(c->query, strlen(c->query)) || !as->mem->search)
		return POS_OK;
	struct pos_search_request req = {
		.user_id = c->user_id,
		.query = c->query,
		.query_len = strlen(c->query),
		.mode = POS_SEARCH_HYBRID,
		.filters = {.user_id = c->user_id, .type = -1, .layer = -1,
			    .after = POS_TIME_NONE, .before = POS_TIME_NONE},
		.limit = want + 4,
		.tz_offset_min = c->tz,
		/* the window above is the time phrase's reading */
		.no_time_phrases = c->timeq,
	};
	struct pos_search_result res;
	struct pos_error serr;
	pos_error_clear(&serr);
	rc = pos_search_run(as->mem->search, c->arena, &req, &res, &serr);
	if (rc == POS_ERR_INVALID_FIELD)
		return POS_OK; /* nothing searchable in the message */
	if (rc)
		return pos_error_set(err, rc, NULL, "%s", serr.message);
	size_t dated = c->n_docs;
	/* archived memories stay out of the context unless the message asks
	 * for them (docs/LIFECYCLE.md) */
	bool archive = asks_archive(c->message);
	for (size_t i = 0; i < res.n && c->n_docs < dated + want; i++) {
		const struct pos_memory *m = &res.hits[i].memory;
		if (m->layer == POS_LAYER_ARCHIVE && !archive)
			continue;
		if (!c->new_conv && m->thread && !strcmp(m->thread, c->conv.id) &&
		    m->type == POS_TYPE_CONVERSATION)
			continue;
		bool dup = false;
		for (size_t k = 0; k < dated && !dup; k++)
			dup = !strcmp(c->docs[k].id, m->id);
		if (dup)
			continue;
		/* dated by what it is about, not when it was written down */
		int64_t when = m->type == POS_TYPE_CONVERSATION
			? POS_TIME_NONE : pos_timeq_when(c->arena, m, c->tz);
		c->docs[c->n_docs++] = (struct pos_llm_doc){
			.id = m->id, .created_at = m->created_at,
			.text = m->content, .len = m->content_len,
			.has_when = when != POS_TIME_NONE, .when = when};
	}
	return POS_OK;
}

/* MemU's items for the question, when MemU is on and the tier allows it.
 * Slow or down MemU costs this chat its items, nothing more. */
static void retrieve_memu(struct pos_chat *c)
{
	struct pos_assistant *as = c->as;
	if (!as->memu || strcmp(c->tier, "cloud") != 0)
		return;
	/* After a failure, chats skip MemU for a while instead of each
	 * waiting out its timeout. */
	int64_t now = pos_mono_us();
	if (now < atomic_load(&as->memu_quiet_until))
		return;
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_memu_item *items = NULL;
	size_t n = 0;
	if (pos_memu_retrieve(as->memu, c->arena, c->user_id, c->message, MEMU_ITEMS_MAX,
			      &items, &n, &e) != POS_OK) {
		atomic_store(&as->memu_quiet_until, pos_mono_us() + POS_MEMU_QUIET_US);
		pos_warn("assistant: MemU retrieve failed: %s", e.message);
		return;
	}
	c->memu_items = items;
	c->n_memu = n;
}

/* The system prompt: persona, then the memories as dated context within
 * the token budget (the best first; the last one may be cut). */
static enum pos_err add_context(struct pos_chat *c, const char *persona_json,
				struct pos_buf *sys)
{
	struct pos_assistant *as = c->as;
	enum pos_err rc = pos_persona_prompt(c->arena, persona_json, c->user_name,
					     pos_now_us(), sys);
	if (rc)
		return rc;
	size_t budget = (size_t)as->cfg->chat_context_tokens * BYTES_PER_TOKEN;
	size_t used = 0;
	size_t kept = 0;
	if (c->n_docs || c->n_memu)
		rc = pos_buf_adds(sys, "\nMemories from the user's store that may be relevant, "
				       "most relevant first. Cite one as [n] when you use it. If "
				       "they do not answer the question, say so instead of "
				       "guessing.\n");
	else
		rc = pos_buf_adds(sys, "\nNo stored memory matched this message. Say so if the "
				       "user asks about their own past.\n");
	for (size_t i = 0; !rc && i < c->n_docs && used < budget; i++) {
		const struct pos_llm_doc *d = &c->docs[i];
		char day[40];
		pos_time_format(d->created_at, day, sizeof(day));
		day[10] = '\0';
		size_t room = budget - used;
		size_t n = pos_utf8_cut(d->text, d->len, room);
		if (n < d->len && n < 200 && kept)
			break; /* a stub of a memory helps nobody */
		rc = pos_buf_addf(sys, "[%zu] (%s) ", kept + 1, day);
		if (!rc)
			rc = pos_buf_add(sys, d->text, n);
		if (!rc)
			rc = pos_buf_adds(sys, n < d->len ? " …\n" : "\n");
		used += n;
		c->used[kept] = d->id;
		c->docs[kept] = *d;
		kept++;
	}
	c->n_docs = kept;
	c->n_used = kept;
	for (size_t i = 0; !rc && i < c->n_memu && used < budget; i++) {
		const struct pos_memu_item *it = &c->memu_items[i];
		size_t len = strlen(it->text ? it->text : "");
		size_t n = pos_utf8_cut(it->text ? it->text : "", len, budget - used);
		rc = pos_buf_addf(sys, "[%zu] (MemU%s%s) ", kept + i + 1,
				  it->category ? ", " : "", it->category ? it->category : "");
		if (!rc)
			rc = pos_buf_add(sys, it->text ? it->text : "", n);
		if (!rc)
			rc = pos_buf_addc(sys, '\n');
		used += n;
	}
	c->context_tokens = (used + BYTES_PER_TOKEN - 1) / BYTES_PER_TOKEN;
	return rc;
}

static void release(struct pos_chat *c)
{
	if (c->counted) {
		atomic_fetch_sub(&c->as->active, 1);
		c->counted = false;
	}
}

void pos_chat_free(struct pos_chat *c)
{
	if (!c)
		return;
	release(c);
	pos_arena_destroy(c->arena);
}

bool pos_chat_inline(const struct pos_chat *c)
{
	return pos_llm_builtin(c->as->llm);
}

enum pos_err pos_chat_prepare(struct pos_assistant *as, const struct pos_chat_input *in,
			      struct pos_chat **out, struct pos_error *err)
{
	*out = NULL;
	if (!in->message || blank(in->message, in->message_len))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "message",
				     "message must be a non-empty string");
	if (in->message_len > POS_CHAT_MESSAGE_MAX)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "message",
				     "message must be at most %d bytes", POS_CHAT_MESSAGE_MAX);
	if (memchr(in->message, '\0', in->message_len))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "message",
				     "message must not contain NUL characters");
	if (atomic_load(&as->stopping))
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "the server is shutting down");
	if (atomic_fetch_add(&as->active, 1) >= POS_CHAT_MAX_ACTIVE) {
		atomic_fetch_sub(&as->active, 1);
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "too many chats are waiting on the model; retry shortly");
	}
	struct pos_arena *a = pos_arena_new();
	struct pos_chat *c = a ? pos_arena_zalloc(a, sizeof(*c)) : NULL;
	if (!c) {
		atomic_fetch_sub(&as->active, 1);
		pos_arena_destroy(a);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	c->arena = a;
	c->as = as;
	c->counted = true;
	snprintf(c->user_id, sizeof(c->user_id), "%s", in->user_id);
	enum pos_err rc = POS_OK;
	c->message = pos_arena_strndup(a, in->message, in->message_len);
	struct pos_user user;
	if (!c->message) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto fail;
	}
	if ((rc = as->store->accounts->user_by_id(as->store, a, c->user_id, &user))) {
		pos_error_set(err, rc, NULL, NULL);
		goto fail;
	}
	c->tier = user.privacy_tier ? user.privacy_tier : "local";
	c->user_name = user.full_name;
	c->tz = pos_timeq_tz(user.settings_json);
	c->timeq = pos_timeq_window(c->message, pos_now_us(), c->tz, &c->window);
	if (!pos_llm_builtin(as->llm) && !as->llm_local && !strcmp(c->tier, "local")) {
		rc = pos_error_set(err, POS_ERR_PRIVACY_TIER, "privacy_tier",
				   "your privacy tier is local, and the configured model (%s) "
				   "is not on this machine: set privacy_tier to hybrid or cloud "
				   "to use it, or ask the operator to list it in local_providers",
				   pos_llm_name(as->llm));
		goto fail;
	}
	int64_t now = pos_now_us();
	if (in->conversation_id) {
		char norm[POS_UUID_SIZE];
		if (!pos_uuid_valid(in->conversation_id, strlen(in->conversation_id), norm) ||
		    as->store->chat->conversation_get(as->store, a, c->user_id, norm, &c->conv)) {
			rc = pos_error_set(err, POS_ERR_NOT_FOUND, "conversation_id",
					   "no such conversation");
			goto fail;
		}
	} else {
		c->new_conv = true;
		pos_uuid_new_v7(c->conv.id, now);
		snprintf(c->conv.user_id, sizeof(c->conv.user_id), "%s", c->user_id);
		c->conv.title = make_title(a, c->message);
		c->conv.created_at = c->conv.updated_at = now;
		if (!c->conv.title) {
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			goto fail;
		}
	}
	struct pos_chat_message *hist;
	size_t n_hist;
	const char *prev_user;
	if ((rc = load_history(c, &prev_user, &hist, &n_hist))) {
		pos_error_set(err, rc, NULL, NULL);
		goto fail;
	}
	c->query = search_query(a, c->message,
				prev_user && leans_on_history(c->message) ? prev_user : NULL);
	if (!c->query) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto fail;
	}
	if ((rc = retrieve(c, err)))
		goto fail;
	retrieve_memu(c);
	struct pos_buf sys;
	pos_buf_init(&sys, (size_t)as->cfg->chat_context_tokens * BYTES_PER_TOKEN + 64 * 1024);
	rc = add_context(c, user.persona_json, &sys);
	const char *sys_text = rc ? NULL : pos_arena_strndup(a, sys.data ? sys.data : "", sys.len);
	pos_buf_free(&sys);
	if (rc || !sys_text) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto fail;
	}
	c->msgs = pos_arena_zalloc(a, (n_hist + 2) * sizeof(*c->msgs));
	if (!c->msgs) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto fail;
	}
	c->msgs[c->n_msgs++] = (struct pos_llm_msg){"system", sys_text};
	for (size_t i = 0; i < n_hist; i++)
		c->msgs[c->n_msgs++] = (struct pos_llm_msg){hist[i].role, hist[i].content};
	c->msgs[c->n_msgs++] = (struct pos_llm_msg){"user", c->message};
	c->req = (struct pos_llm_request){
		.msgs = c->msgs, .n_msgs = c->n_msgs, .question = c->message,
		.docs = c->docs, .n_docs = c->n_docs, .temperature = -1,
		.cancel = &as->stopping, .window = c->timeq,
		.window_from = c->window.from, .window_to = c->window.to,
		.window_label = c->window.label, .tz_offset_min = c->tz,
		.cited = pos_arena_zalloc(a, c->n_docs + 1)};
	if (!c->req.cited) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto fail;
	}
	*out = c;
	return POS_OK;
fail:
	pos_chat_free(c);
	return rc;
}

/* ---- run: the model, then the save ---- */

static const char *ids_json(struct pos_arena *a, const char **ids, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_string(ids[i]));
	char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	char *copy = s ? pos_arena_strdup(a, s) : NULL;
	free(s);
	return copy;
}

/* Saves the exchange: a conversation memory, then both messages. If the
 * messages cannot be written the memory is removed again. */
static enum pos_err save(struct pos_chat *c, const char *answer, size_t len,
			 const char **memory_id, struct pos_error *err)
{
	struct pos_assistant *as = c->as;
	struct pos_arena *a = c->arena;
	/* The memory holds the exchange; an enormous answer is cut to fit the
	 * memory size limit (the message keeps it whole). */
	size_t msg_len = strlen(c->message);
	size_t room = POS_CONTENT_MAX - msg_len - 64;
	size_t alen = pos_utf8_cut(answer, len, room);
	json_t *used = json_array();
	for (size_t i = 0; used && i < c->n_used; i++)
		json_array_append_new(used, json_string(c->used[i]));
	json_t *body = json_pack("{s:s%, s:s, s:s, s:[s], s:{s:s, s:s, s:o}}",
				 "content", "", (size_t)0, "type", "conversation",
				 "source", "chat", "tags", "chat",
				 "metadata", "conversation_id", c->conv.id,
				 "model", pos_llm_name(as->llm), "memories_used", used);
	struct pos_buf content;
	pos_buf_init(&content, POS_CONTENT_MAX);
	enum pos_err rc = body ? POS_OK : POS_ERR_NOMEM;
	if (!rc)
		rc = pos_buf_adds(&content, "User: ");
	if (!rc)
		rc = pos_buf_add(&content, c->message, msg_len);
	/* The offline responder only quotes the memories back: its answer
	 * is no new knowledge, and kept as a memory it would flood search
	 * with copies of them. The conversation's messages keep it. */
	bool quote_only = pos_llm_builtin(as->llm);
	if (!rc && !quote_only)
		rc = pos_buf_adds(&content, "\n\nAssistant: ");
	if (!rc && !quote_only)
		rc = pos_buf_add(&content, answer, alen);
	if (!rc && json_object_set_new(body, "content",
				       json_stringn(content.data, content.len)) != 0)
		rc = POS_ERR_NOMEM;
	pos_buf_free(&content);
	struct pos_memory mem;
	if (!rc)
		rc = pos_memory_create(as->mem, a, c->user_id, body, &mem, err);
	json_decref(body);
	if (rc)
		return err->code ? rc : pos_error_set(err, rc, NULL, NULL);
	int64_t now = pos_now_us();
	struct pos_chat_message msgs[2] = {0};
	pos_uuid_new_v7(msgs[0].id, now);
	msgs[0].role = "user";
	msgs[0].content = c->message;
	msgs[0].created_at = now;
	pos_uuid_new_v7(msgs[1].id, now + 1);
	msgs[1].role = "assistant";
	msgs[1].content = pos_arena_strndup(a, answer, len);
	msgs[1].memories_used_json = ids_json(a, c->used, c->n_used);
	msgs[1].created_at = now + 1;
	for (int i = 0; i < 2; i++)
		snprintf(msgs[i].memory_id, sizeof(msgs[i].memory_id), "%s", mem.id);
	if (!msgs[1].content || !msgs[1].memories_used_json)
		rc = POS_ERR_NOMEM;
	if (!rc)
		rc = as->store->chat->chat_append(as->store, &c->conv, c->new_conv, msgs, 2);
	if (rc) {
		struct pos_error ignore;
		pos_memory_delete(as->mem, c->user_id, mem.id, &ignore);
		return pos_error_set(err, rc, NULL, "the exchange could not be saved");
	}
	*memory_id = pos_arena_strdup(a, mem.id);
	/* Background work: extract facts and tasks; mirror to MemU. */
	char job[POS_UUID_SIZE];
	struct pos_error jerr;
	pos_error_clear(&jerr);
	char payload[128];
	snprintf(payload, sizeof(payload), "{\"memory_id\":\"%s\"}", mem.id);
	if (pos_assistant_enqueue(as, c->user_id, "memorize", payload, job, &jerr))
		pos_warn("assistant: cannot queue memorize: %s", jerr.message);
	if (as->memu && !strcmp(c->tier, "cloud") &&
	    pos_assistant_enqueue(as, c->user_id, "memu_memorize", payload, job, &jerr))
		pos_warn("assistant: cannot queue MemU memorize: %s", jerr.message);
	return POS_OK;
}

/* The caller's delta callback, and each delta published as chat.delta
 * for the user's other clients (docs/EVENTS.md). */
struct delta_tee {
	struct pos_chat *c;
	pos_llm_delta_fn fn;
	void *ctx;
};

static bool tee_delta(void *ctx, const char *t, size_t n)
{
	struct delta_tee *tee = ctx;
	struct pos_chat *c = tee->c;
	/* A JSON escape can grow text six times: a long delta goes out as
	 * several events of at most DATA_MAX / 8 bytes, cut between UTF-8
	 * characters, so the client's concatenation is the answer. */
	size_t at = 0;
	while (at < n) {
		size_t k = pos_utf8_cut(t + at, n - at, POS_EVENTS_DATA_MAX / 8);
		if (!k) /* no whole character fits: not UTF-8, send the bytes */
			k = n - at < POS_EVENTS_DATA_MAX / 8 ? n - at : POS_EVENTS_DATA_MAX / 8;
		struct pos_buf b;
		pos_buf_init(&b, POS_EVENTS_DATA_MAX);
		struct pos_jw w;
		pos_jw_init(&w, &b);
		pos_jw_obj(&w);
		pos_jw_kstr(&w, "conversation_id", c->conv.id);
		pos_jw_key(&w, "delta");
		pos_jw_strn(&w, t + at, k);
		pos_jw_obj_end(&w);
		if (!w.rc && !pos_buf_addc(&b, '\0'))
			(void)pos_events_publish(c->as->mem->events, c->user_id, "chat.delta",
						 b.data);
		pos_buf_free(&b);
		at += k;
	}
	return tee->fn(tee->ctx, t, n);
}

/* The memories an answer used count as accessed, like opening them
 * (docs/LIFECYCLE.md, "Access tracking"): write-behind in the store, and
 * an archived one comes back to active. Best effort: a memory deleted
 * meanwhile is skipped. */
static void count_used(struct pos_chat *c)
{
	struct pos_store *s = c->as->store;
	int64_t now = pos_now_us();
	for (size_t i = 0; i < c->n_used; i++) {
		struct pos_memory m;
		(void)s->memories->memory_get(s, c->arena, c->user_id, c->used[i], true, now, &m);
	}
}

enum pos_err pos_chat_run(struct pos_chat *c, pos_llm_delta_fn on_delta, void *ctx,
			  struct pos_chat_result *out, struct pos_error *err)
{
	struct pos_assistant *as = c->as;
	const char *answer = NULL;
	size_t len = 0;
	struct delta_tee tee = {c, on_delta, ctx};
	if (on_delta && as->mem && as->mem->events) {
		on_delta = tee_delta;
		ctx = &tee;
	}
	enum pos_err rc = pos_llm_complete(as->llm, c->arena, &c->req, on_delta, ctx,
					   &answer, &len, err);
	atomic_fetch_add(&as->chats, 1);
	if (rc) {
		atomic_fetch_add(&as->chat_failures, 1);
		return rc;
	}
	if (pos_llm_builtin(as->llm)) {
		/* The offline responder quotes some of the memories: only
		 * those count as used (its [n] number them). */
		size_t k = 0;
		for (size_t i = 0; i < c->n_used; i++)
			if (c->req.cited[i])
				c->used[k++] = c->used[i];
		c->n_used = k;
	}
	const char *memory_id = NULL;
	if ((rc = save(c, answer, len, &memory_id, err))) {
		atomic_fetch_add(&as->chat_failures, 1);
		return rc;
	}
	count_used(c);
	*out = (struct pos_chat_result){
		.response = answer, .response_len = len,
		.conversation_id = c->conv.id,
		.memories_used = c->used, .n_used = c->n_used,
		.context_size = c->n_docs + c->n_memu,
		.context_tokens = c->context_tokens,
		.memory_id = memory_id,
		.model = pos_llm_name(as->llm),
		.memu_items = c->memu_items, .n_memu = c->n_memu,
	};
	return POS_OK;
}
