/*
 * log.h — one-line structured log records on stderr.
 *
 * Each record is `<RFC 3339 time> <level> <message>` written with a single
 * write(2), so concurrent lines never interleave. Callers must never pass
 * request bodies, tokens, passwords or memory content: the log is for
 * operators. Stateless and thread-safe.
 */
#ifndef POS_BASE_LOG_H
#define POS_BASE_LOG_H

enum pos_log_level { POS_LOG_DEBUG, POS_LOG_INFO, POS_LOG_WARN, POS_LOG_ERROR };

void pos_log(enum pos_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pos_info(...) pos_log(POS_LOG_INFO, __VA_ARGS__)
#define pos_warn(...) pos_log(POS_LOG_WARN, __VA_ARGS__)
#define pos_error_log(...) pos_log(POS_LOG_ERROR, __VA_ARGS__)

/* Broken invariant: log where and abort (git's BUG). */
#define POS_BUG(...) pos_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void pos_bug(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
