/* log.c - leveled, line-atomic logging to stderr or syslog. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static enum log_level max_level = LOG_LVL_NOTICE;
static int to_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	"error", "warning", "notice", "info", "debug",
};

static const int syslog_prio[] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG,
};

void log_set_level(enum log_level level)
{
	max_level = level;
}

void log_use_syslog(void)
{
	openlog("teamsfs", LOG_PID, LOG_DAEMON);
	to_syslog = 1;
}

int log_enabled(enum log_level level)
{
	return level <= max_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One event is one line: fold any newline that data brought in. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (to_syslog) {
		syslog(syslog_prio[level], "%s: %s", level_names[level], line);
		return;
	}
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "teamsfs: %s: %s\n", level_names[level], line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
