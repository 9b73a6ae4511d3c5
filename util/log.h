/*
 * util/log.h - leveled logging to syslog, stderr or a file.
 *
 * log_err/warn/info/debug() check the level before formatting.  MOD is the
 * module and instance, "[dir:archive]" style without brackets: "dir:archive".
 * Callers never pass secrets.  Thread-safe: one write() per line.
 */
#ifndef FLOWFS_LOG_H
#define FLOWFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* TARGET: "syslog", "stderr" or a file path (appended).  0 or -errno. */
int log_open(const char *target, const char *level);
void log_close(void);
int log_parse_level(const char *s, enum log_level *out);	/* 0 or -EINVAL */
extern enum log_level log_level_cur;

void log_msg(enum log_level lvl, const char *mod, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(mod, ...)   log_msg(LOG_LVL_ERR, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_LVL_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...)  do { if (log_level_cur >= LOG_LVL_INFO) log_msg(LOG_LVL_INFO, mod, __VA_ARGS__); } while (0)
#define log_debug(mod, ...) do { if (log_level_cur >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, mod, __VA_ARGS__); } while (0)

/* strerror_r wrapper: "No such file or directory" for E (positive or negative). */
const char *log_errstr(int e, char *buf, unsigned len);

#endif
