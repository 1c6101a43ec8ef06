/*
 * log.c — stderr log lines, one write(2) each.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "base/clock.h"

static const char *level_name[] = {"debug", "info", "warn", "error"};

static void vlog(enum pos_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	char ts[40];
	pos_time_format(pos_now_us(), ts, sizeof(ts));
	int n = snprintf(line, sizeof(line), "%s %s ", ts, level_name[level]);
	if (n < 0)
		return;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void pos_log(enum pos_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void pos_bug(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pos_log(POS_LOG_ERROR, "BUG %s:%d: %s", file, line, msg);
	abort();
}
