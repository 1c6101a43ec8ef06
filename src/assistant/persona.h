/*
 * persona.h — the user's AI persona (the seed's AIPersona): its defaults,
 * the validation of a change to it (PATCH /api/auth/me ai_persona), and
 * the system prompt the assistant makes from it. Pure functions over JSON
 * text: no store, no state; thread-safe. Strings go in the caller's arena.
 */
#ifndef POS_ASSISTANT_PERSONA_H
#define POS_ASSISTANT_PERSONA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

/* The default AI persona as JSON object text (static storage). */
const char *pos_persona_default_json(void);

/*
 * Applies `patch` (an ai_persona value: an object of traits, or null to
 * reset) over `current` (JSON object text, NULL: defaults) and sets *out
 * to the whole persona as compact JSON (arena). Unknown keys are ignored.
 * Errors: POS_ERR_INVALID_FIELD naming the field ("ai_persona.humor"),
 * POS_ERR_NOMEM; *out is untouched then.
 */
enum pos_err pos_persona_merge(struct pos_arena *ar, const char *current,
			       const json_t *patch, const char **out,
			       struct pos_error *err);

/* The system prompt for a persona (JSON object text; NULL = defaults). */
enum pos_err pos_persona_prompt(struct pos_arena *a, const char *persona_json,
				const char *user_name, int64_t now, struct pos_buf *out);
/* Whether persona_json asks for suggestions (default true). */
bool pos_persona_wants_suggestions(const char *persona_json);

#endif
