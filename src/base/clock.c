/*
 * clock.c — clocks and RFC 3339 formatting/parsing without locale or TZ
 * state (days-from-civil arithmetic, Howard Hinnant's algorithm).
 */
#include "base/clock.h"

#include <stdio.h>
#include <time.h>

int64_t pos_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pos_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pos_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void pos_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

size_t pos_time_format(int64_t t, char *out, size_t cap)
{
	int64_t secs = t >= 0 ? t / 1000000 : -((-t + 999999) / 1000000);
	int64_t us = t - secs * 1000000;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	int64_t y;
	int m, d;
	pos_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999 || cap < POS_TIME_FMT_LEN) {
		int n = snprintf(out, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
				 (long long)y, m, d, (int)(rem / 3600),
				 (int)(rem / 60 % 60), (int)(rem % 60));
		return n < 0 ? 0 : (size_t)n;
	}
	/* Hand-formatted: this runs several times per memory served. */
	char *p = out;
	unsigned v[] = {(unsigned)y, (unsigned)m, (unsigned)d, (unsigned)(rem / 3600),
			(unsigned)(rem / 60 % 60), (unsigned)(rem % 60)};
	static const char sep[] = "--T::";
	for (int i = 0; i < 6; i++) {
		if (i == 0) {
			*p++ = (char)('0' + v[0] / 1000);
			*p++ = (char)('0' + v[0] / 100 % 10);
		}
		*p++ = (char)('0' + v[i] / 10 % 10);
		*p++ = (char)('0' + v[i] % 10);
		if (i < 5)
			*p++ = sep[i];
	}
	if (us) {
		*p++ = '.';
		for (int64_t div = 100000; div; div /= 10)
			*p++ = (char)('0' + us / div % 10);
	}
	*p++ = 'Z';
	*p = '\0';
	return (size_t)(p - out);
}

static bool digits(const char *s, size_t len, size_t at, size_t n, int *out)
{
	if (at + n > len)
		return false;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[at + i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*out = v;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool pos_time_parse(const char *s, size_t len, bool allow_date, int64_t *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h = 0, mi = 0, se = 0;
	if (!digits(s, len, 0, 4, &y) || len < 10 || s[4] != '-' ||
	    !digits(s, len, 5, 2, &mo) || s[7] != '-' ||
	    !digits(s, len, 8, 2, &d))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1)
		return false;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return false;
	int64_t us = 0, offset = 0;
	size_t i = 10;
	if (len == 10) {
		if (!allow_date)
			return false;
	} else {
		if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
			return false;
		if (!digits(s, len, 11, 2, &h) || len < 19 || s[13] != ':' ||
		    !digits(s, len, 14, 2, &mi) || s[16] != ':' ||
		    !digits(s, len, 17, 2, &se))
			return false;
		if (h > 23 || mi > 59 || se > 60)
			return false;
		if (se == 60)
			se = 59; /* leap second: clamp, we do not model them */
		i = 19;
		if (i < len && s[i] == '.') {
			i++;
			size_t start = i;
			int64_t scale = 100000;
			while (i < len && s[i] >= '0' && s[i] <= '9') {
				us += (s[i] - '0') * scale;
				scale /= 10;
				i++;
			}
			if (i == start || i - start > 9)
				return false;
		}
		if (i >= len)
			return false;
		if (s[i] == 'Z' || s[i] == 'z') {
			i++;
		} else if (s[i] == '+' || s[i] == '-') {
			int oh, om;
			int sign = s[i] == '-' ? -1 : 1;
			if (!digits(s, len, i + 1, 2, &oh) || i + 3 >= len ||
			    s[i + 3] != ':' || !digits(s, len, i + 4, 2, &om))
				return false;
			if (oh > 23 || om > 59)
				return false;
			offset = sign * ((int64_t)oh * 3600 + om * 60);
			i += 6;
		} else {
			return false;
		}
		if (i != len)
			return false;
	}
	int64_t days = pos_days_from_civil(y, mo, d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset;
	*out = secs * 1000000 + us;
	return true;
}
