/*
 * password_policy.h — how strong a new password must be.
 *
 * One rule for every place a password is chosen (register, password
 * change, recovery with the recovery key, `personalos user create`): at
 * least POS_PASSWORD_MIN_CHARS characters, at most POS_PASSWORD_MAX_BYTES
 * bytes, and a zxcvbn strength score of at least POS_PASSWORD_MIN_SCORE.
 *
 * The score is zxcvbn's 0–4 scale computed from the C zxcvbn library's
 * entropy estimate (log2 of the guesses an attacker who knows common
 * passwords, words, keyboard walks, repeats, sequences and dates needs):
 *   0 < 10^3 guesses, 1 < 10^6, 2 < 10^8, 3 < 10^10, 4 otherwise.
 * The minimum 3 refuses "aaaaaaaaaa", "0123456789", "password123" and
 * "qwertyuiop", and accepts passphrases of three ordinary words such as
 * "correct horse battery" (docs/SECURITY.md, "Password strength").
 *
 * Only the first POS_PASSWORD_SCORED_BYTES bytes are scored, so a long
 * input costs bounded time; a password whose prefix is strong is strong.
 *
 * Thread-safety: pure functions (the library keeps no state).
 */
#ifndef POS_AUTH_PASSWORD_POLICY_H
#define POS_AUTH_PASSWORD_POLICY_H

#include <stddef.h>

#include "base/err.h"

#define POS_PASSWORD_MIN_CHARS 10
#define POS_PASSWORD_MAX_BYTES 1024
#define POS_PASSWORD_MIN_SCORE 3
#define POS_PASSWORD_SCORED_BYTES 128

/* The zxcvbn score (0–4) of the `len` bytes at `pw` (NULs end it early). */
int pos_password_score(const char *pw, size_t len);

/*
 * Checks a new password. POS_OK, or POS_ERR_WEAK_PASSWORD with field
 * "password" and a message a person can act on: the length rule, or
 * "too easy to guess (strength S of 4, at least 3 needed)" with a hint
 * naming what made it weak (a repeat, a sequence, a common word...).
 * `score` (may be NULL) receives the score, or -1 when the length rule
 * failed first. Never logs or keeps the password.
 */
enum pos_err pos_password_policy_check(const char *pw, size_t len, int *score,
				       struct pos_error *err);

#endif
