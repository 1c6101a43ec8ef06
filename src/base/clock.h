/*
 * clock.h — time in PersonalOS: integer microseconds since the Unix epoch
 * (UTC) in the store, RFC 3339 in the API. Pure and thread-safe.
 */
#ifndef POS_BASE_CLOCK_H
#define POS_BASE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "No time", e.g. a memory never accessed. */
#define POS_TIME_NONE INT64_MIN
#define POS_TIME_FMT_LEN 32

/* Wall-clock now, microseconds since the epoch. */
int64_t pos_now_us(void);
/* Monotonic now, microseconds (for durations). */
int64_t pos_mono_us(void);

/*
 * Writes `t` as RFC 3339 UTC: "2026-11-24T09:30:00Z", or with
 * ".123456" when t has a sub-second part. `out` needs POS_TIME_FMT_LEN
 * bytes. Returns the length written.
 */
size_t pos_time_format(int64_t t, char *out, size_t cap);

/*
 * Parses RFC 3339 ("2026-11-24T09:30:00Z", "...T09:30:00.5+02:00",
 * lower-case t/z and a space separator accepted) or, when `allow_date`, a bare
 * date "2026-11-24" (UTC midnight). Years 0001–9999. Returns false on
 * anything else, including impossible dates.
 */
bool pos_time_parse(const char *s, size_t len, bool allow_date, int64_t *out);

/*
 * Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1–12,
 * d 1–31; not validated), and back. Exact for any int64 day count a
 * caller can reach (Howard Hinnant's days_from_civil / civil_from_days).
 */
int64_t pos_days_from_civil(int64_t y, int m, int d);
void pos_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
