/*
 * password_policy.c — the strength rule for new passwords, on zxcvbn.
 */
#include "auth/password_policy.h"

#include <string.h>
#include <zxcvbn.h>

#include "base/buf.h"
#include "crypto/crypto.h"

/* log2 of zxcvbn's score boundaries 10^3, 10^6, 10^8, 10^10 guesses. */
static const double score_bits[4] = {9.966, 19.932, 26.575, 33.219};

/* What made a password weak, from its weakest part. */
static const char *hint_for(ZxcTypeMatch_t t)
{
	if ((int)t & MULTIPLE_MATCH)
		return "repeated characters or words are easy to guess";
	switch ((int)t) {
	case DICTIONARY_MATCH:
	case DICT_LEET_MATCH:
	case USER_MATCH:
	case USER_LEET_MATCH:
		return "it is built on a common password or word; add more uncommon words";
	case REPEATS_MATCH:
		return "repeated characters or words are easy to guess";
	case SEQUENCE_MATCH:
		return "sequences like abcd or 1234 are easy to guess";
	case SPATIAL_MATCH:
		return "keyboard patterns like qwerty are easy to guess";
	case DATE_MATCH:
	case YEAR_MATCH:
		return "dates and years are easy to guess";
	default:
		return "use a longer passphrase of several unrelated words";
	}
}

static int score_of(double bits)
{
	int s = 0;
	while (s < 4 && bits >= score_bits[s])
		s++;
	return s;
}

/* Scores the prefix; *hint gets the hint of the part that added the least
 * entropy per character (NULL when none stands out). */
static int score_hint(const char *pw, size_t len, const char **hint)
{
	char buf[POS_PASSWORD_SCORED_BYTES + 1];
	size_t n = pos_utf8_cut(pw, len, POS_PASSWORD_SCORED_BYTES);
	memcpy(buf, pw, n);
	buf[n] = '\0';
	ZxcMatch_t *info = NULL;
	double bits = ZxcvbnMatch(buf, NULL, hint ? &info : NULL);
	if (hint) {
		*hint = NULL;
		double worst = 0;
		for (const ZxcMatch_t *m = info; m; m = m->Next) {
			if (m->Length <= 0)
				continue;
			double per = m->Entrpy / m->Length;
			if (!*hint || per < worst) {
				worst = per;
				*hint = hint_for(m->Type);
			}
		}
		ZxcvbnFreeInfo(info);
	}
	pos_wipe(buf, sizeof(buf));
	return score_of(bits);
}

int pos_password_score(const char *pw, size_t len)
{
	return score_hint(pw, len, NULL);
}

enum pos_err pos_password_policy_check(const char *pw, size_t len, int *score,
				       struct pos_error *err)
{
	if (score)
		*score = -1;
	if (len > POS_PASSWORD_MAX_BYTES)
		return pos_error_set(err, POS_ERR_WEAK_PASSWORD, "password",
				     "the password must be at most %d bytes",
				     POS_PASSWORD_MAX_BYTES);
	size_t chars = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)pw[i] & 0xc0) != 0x80)
			chars++;
	if (chars < POS_PASSWORD_MIN_CHARS)
		return pos_error_set(err, POS_ERR_WEAK_PASSWORD, "password",
				     "the password must have at least %d characters",
				     POS_PASSWORD_MIN_CHARS);
	const char *hint = NULL;
	int s = score_hint(pw, len, &hint);
	if (score)
		*score = s;
	if (s < POS_PASSWORD_MIN_SCORE)
		return pos_error_set(err, POS_ERR_WEAK_PASSWORD, "password",
				     "the password is too easy to guess (strength %d of 4, "
				     "at least %d needed): %s", s, POS_PASSWORD_MIN_SCORE,
				     hint ? hint : "use a longer passphrase of several unrelated words");
	return POS_OK;
}
