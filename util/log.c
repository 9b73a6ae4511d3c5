/*
 * util/log.c - leveled logging to syslog, stderr or a file.
 *
 * Design: one global sink chosen at startup by log_open(); each line is
 * formatted into a stack buffer and written with a single write(), so lines
 * from concurrent threads never interleave.  Before log_open() lines go to
 * stderr.  The level is read without a lock: a torn read is harmless.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_level log_level_cur = LOG_LVL_INFO;
static int log_fd = STDERR_FILENO;	/* -1: syslog */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

int log_open(const char *target, const char *level)
{
	if (level && log_parse_level(level, &log_level_cur) < 0)
		return -EINVAL;
	if (!target || strcmp(target, "stderr") == 0) {
		log_fd = STDERR_FILENO;
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		openlog("flowfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_fd = -1;
		return 0;
	}
	int fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	log_fd = fd;
	return 0;
}

void log_close(void)
{
	if (log_fd == -1)
		closelog();
	else if (log_fd > STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
}

void log_msg(enum log_level lvl, const char *mod, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	size_t n = 0;
	va_list ap;

	if (lvl > log_level_cur)
		return;
	if (log_fd >= 0) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ",
			      ts.tv_nsec / 1000000, level_names[lvl]);
	}
	n += snprintf(line + n, sizeof(line) - n, "[%s] ", mod);
	va_start(ap, fmt);
	if (n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (log_fd < 0) {
		line[n] = '\0';
		syslog(prio[lvl], "%s", line);
		return;
	}
	line[n++] = '\n';
	if (write(log_fd, line, n) < 0) {
		/* nowhere left to report it */
	}
}

const char *log_errstr(int e, char *buf, unsigned len)
{
	if (e < 0)
		e = -e;
	/* GNU strerror_r may return a static string instead of filling BUF. */
	return strerror_r(e, buf, len);
}
