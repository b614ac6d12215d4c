/*
 * log.h - the one place teamsfs reports events to people.
 *
 * A line is "teamsfs: <level>: <text>", written to stderr in the foreground
 * and to syslog once the process has become a daemon.  Warnings and errors
 * are for events a person should act on; info and debug are for tracing and
 * are shown only when asked for.  Nothing that is a secret is ever passed
 * here.
 */
#ifndef TEAMSFS_LOG_H
#define TEAMSFS_LOG_H

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARNING,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Sets the most verbose level that is still written (default: notice). */
void log_set_level(enum log_level level);

/* Sends later lines to syslog instead of stderr. */
void log_use_syslog(void);

/* Writes one line at @level; @fmt is printf-style, without a newline. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Returns nonzero when lines at @level would be written. */
int log_enabled(enum log_level level);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
